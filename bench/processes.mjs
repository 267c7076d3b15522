// Processes and load the bench scripts share: a server forked from bench/servers and pinned to a
// core, its CPU time from /proc, a free port, and autocannon as a promise.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import autocannon from 'autocannon';
import { taskset } from './common.mjs';

const here = new URL('.', import.meta.url).pathname;
const CLK_TCK = 100;

/** Forks bench/servers/<script> with `vars` in its environment, pinned to `core` (if given); resolves once it reports its port. */
export function forkServer(script, vars, core) {
  // NODE_FLAGS (EXTRA only): V8/node flags that NODE_OPTIONS refuses, given to this server alone.
  const execArgv = (vars.NODE_FLAGS ?? '').split(' ').filter(Boolean);
  // REPO (EXTRA only): another checkout, built, whose server is started instead — an A/B against an
  // earlier commit in the same run (`git worktree add /tmp/before <commit>`, node_modules linked, `npm run build`).
  const servers = vars.REPO ? join(vars.REPO, 'bench', 'servers') : join(here, 'servers');
  const child = fork(join(servers, script), [], { env: { ...process.env, ...vars }, execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.ready, admin: m.admin, pids: [child.pid], info: m }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  }).then((s) => {
    if (core !== undefined && cpus().length > 1) taskset(s.child.pid, core);
    return s;
  });
}

export async function stopServer(s) {
  for (const extra of s.extras ?? []) await extra.stop();
  if (!s.child) return;
  s.child.kill('SIGTERM');
  await new Promise((r) => (s.child.exitCode !== null ? r() : s.child.once('exit', r)));
}

export function freePort() {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** User + system CPU seconds of these processes so far. */
export function cpuSeconds(pids) {
  let ticks = 0;
  let sys = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      sys += Number(f[12]);
    } catch {
      // gone
    }
  }
  return { total: ticks / CLK_TCK, sys: sys / CLK_TCK };
}

export function cannon(opts) {
  return new Promise((resolve, reject) => autocannon({ pipelining: 1, ...opts }, (err, res) => (err ? reject(err) : resolve(res))));
}
