/**
 * deploy/helm/portcullis, linted and rendered by the real helm (built by scripts/k8s-tools.sh through
 * the Go module proxy): replicas with probes on /healthz and /readyz, configuration and keys from
 * Secrets, a non-root read-only container, a PodDisruptionBudget and, when asked, a ServiceMonitor.
 * Without Go the test says it skipped.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const root = new URL('../../', import.meta.url).pathname;
const chart = join(root, 'deploy/helm/portcullis');
const TOOLS = process.env.K8S_TOOLS_DIR !== undefined ? undefined : spawnSync('bash', [join(root, 'scripts/k8s-tools.sh')], { encoding: 'utf8', timeout: 1_800_000 });
const dir = process.env.K8S_TOOLS_DIR ?? (TOOLS!.status === 0 ? TOOLS!.stdout.trim() : '');
if (!dir) console.warn(`SKIP the Helm chart checks: ${TOOLS?.stderr.trim().split('\n').at(-1) ?? 'no helm'}`);

const helm = (...args: string[]) => spawnSync(join(dir, 'helm'), args, { encoding: 'utf8' });
// kubeconform needs the Kubernetes JSON schemas (github.com/yannh/kubernetes-json-schema), which this
// network cannot reach: give a local copy as KUBECONFORM_SCHEMAS (a -schema-location template).
const SCHEMAS = process.env.KUBECONFORM_SCHEMAS;
if (dir && !SCHEMAS) console.warn('SKIP kubeconform on the rendered chart: no Kubernetes JSON schemas here (set KUBECONFORM_SCHEMAS to a local -schema-location)');

describe.skipIf(!dir)('the Helm chart', () => {
  it('passes helm lint', () => {
    const r = helm('lint', chart);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('renders replicas with probes, Secrets for config and keys, a hardened container, a PDB and a ServiceMonitor', () => {
    const r = helm('template', 'gw', chart, '--set', 'serviceMonitor.enabled=true', '--set', 'env.REDIS_URL=redis://redis:6379');
    expect(r.status, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, any>).filter(Boolean);
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(['Deployment', 'PodDisruptionBudget', 'Service', 'ServiceMonitor']);
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    expect(deployment.spec.replicas).toBe(3);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'admin' });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'admin' });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.env).toEqual(expect.arrayContaining([{ name: 'REDIS_URL', value: 'redis://redis:6379' }]));
    const secrets = pod.volumes.filter((v: any) => v.secret).map((v: any) => v.secret.secretName);
    expect(secrets).toEqual(expect.arrayContaining(['portcullis-config', 'portcullis-keys']));
    expect(c.volumeMounts.filter((m: any) => m.mountPath.startsWith('/etc/portcullis')).every((m: any) => m.readOnly)).toBe(true);
    expect(docs.find((d) => d.kind === 'PodDisruptionBudget')!.spec.minAvailable).toBe(1);
    expect(docs.find((d) => d.kind === 'ServiceMonitor')!.spec.endpoints[0]).toMatchObject({ port: 'admin', path: '/metrics' });
  });

  it.skipIf(!SCHEMAS)('renders manifests kubeconform accepts against the Kubernetes schemas', () => {
    const rendered = helm('template', 'gw', chart);
    const r = spawnSync(join(dir, 'kubeconform'), ['-strict', '-summary', '-skip', 'ServiceMonitor', '-schema-location', SCHEMAS!, '-'], { input: rendered.stdout, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
