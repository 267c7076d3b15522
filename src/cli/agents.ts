/**
 * `portcullis agents add | show | suspend | resume | retire` — the live registry (agent-registry.ts);
 * `agents list | trust | pin | cap | unpin | attest` — the trust layer's admin API, as a thin client
 * (docs/trust.md); `agents keygen | secret | assert` — credentials for the token service
 * (docs/identity.md), made locally.
 */
import { readFileSync } from 'node:fs';
import { parse, UsageError, type Command } from './args.js';
import { ADMIN_OPTIONS, adminCall } from './admin-client.js';
import { VIEWS } from './table.js';
import { help } from './start.js';
import { assert, keygen, secret } from './agent-keys.js';
import { REGISTRY_OPTIONS, REGISTRY_USAGE, registryCommand } from './agent-registry.js';

const USAGE = `${REGISTRY_USAGE}
       portcullis agents list [--level LEVEL] [--below-floor]
       portcullis agents trust ID                              the score's breakdown
       portcullis agents pin ID --score N --reason TEXT [--ttl 24h]
       portcullis agents cap ID --score N --reason TEXT [--ttl 24h]
       portcullis agents unpin ID --reason TEXT                lifts a pin or cap
       portcullis agents attest FILE|-                         post a signed attestation (a JWT)
       (all above: [--url http://127.0.0.1:8081] [--token T | env PORTCULLIS_ADMIN_TOKEN])
       portcullis agents keygen --agent ID [--out DIR] [--alg EdDSA|ES256] [--force]
                                                               a key pair for private_key_jwt; prints the JWKS
       portcullis agents secret --agent ID                     a client secret (shown once) and its hash
       portcullis agents assert --agent ID --key FILE --aud URL [--ttl 60s]
                                                               a client assertion for the token endpoint`;

export const agents: Command = {
  summary: "the agent registry (add, show, suspend, resume, retire), trust scores (list, pin, attest…) and token-service credentials (keygen, secret, assert)",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      { ...ADMIN_OPTIONS, ...REGISTRY_OPTIONS, agent: { type: 'string' }, out: { type: 'string' }, alg: { type: 'string' }, force: { type: 'boolean' }, key: { type: 'string' }, aud: { type: 'string' }, level: { type: 'string' }, 'below-floor': { type: 'boolean' }, score: { type: 'string' }, reason: { type: 'string' }, ttl: { type: 'string' } },
      true,
    );
    if (values.help) return help(USAGE);
    const [sub, id, ...rest] = positionals;
    if (sub === 'keygen' || sub === 'secret' || sub === 'assert') {
      if (id !== undefined) throw new UsageError(`agents ${sub} takes --agent ID, not ${JSON.stringify(id)}`);
      if (sub === 'keygen') return keygen(values.agent!, { out: values.out, alg: values.alg, force: values.force });
      if (sub === 'secret') return secret(values.agent!);
      return assert(values.agent!, { key: values.key, aud: values.aud, ttl: values.ttl });
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    if (sub === 'add' || sub === 'show' || sub === 'suspend' || sub === 'resume' || sub === 'retire') return registryCommand(sub, id, values);
    if (sub === 'list') {
      if (id !== undefined) throw new UsageError('list takes no id (use trust ID)');
      const query = new URLSearchParams();
      if (values.level) query.set('level', values.level);
      if (values['below-floor']) query.set('below_floor', 'true');
      return adminCall(values, 'GET', `/admin/agents${query.size ? `?${query}` : ''}`, undefined, VIEWS.agents);
    }
    if (sub === 'attest') {
      if (!id) throw new UsageError('attest needs a file holding the attestation JWT (or - for stdin)');
      const jwt = readFileSync(id === '-' ? 0 : id, 'utf8').trim();
      return adminCall(values, 'POST', '/admin/attestations', { attestation: jwt });
    }
    if (sub !== 'trust' && sub !== 'pin' && sub !== 'cap' && sub !== 'unpin') throw new UsageError('expected `agents add`, `show`, `suspend`, `resume`, `retire`, `list`, `trust`, `pin`, `cap`, `unpin`, `attest`, `keygen`, `secret` or `assert`');
    if (!id) throw new UsageError(`agents ${sub} needs the agent id`);
    const path = `/admin/agents/${encodeURIComponent(id)}/trust`;
    if (sub === 'trust') return adminCall(values, 'GET', path);
    if (!values.reason) throw new UsageError(`agents ${sub} needs --reason`);
    if (sub === 'unpin') return adminCall(values, 'PUT', path, { pin: null, cap: null, reason: values.reason });
    const score = Number(values.score);
    if (values.score === undefined || !Number.isFinite(score) || score < 0 || score > 100) throw new UsageError(`agents ${sub} needs --score between 0 and 100`);
    return adminCall(values, 'PUT', path, { [sub]: score, reason: values.reason, ...(values.ttl ? { ttl: values.ttl } : {}) });
  },
};
