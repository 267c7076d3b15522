/**
 * `portcullis agents add | show | suspend | resume | retire` — the live registry through the admin
 * API (docs/provisioning.md): the same records, rules and audit events as SCIM.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import { adminCall } from './admin-client.js';

export const REGISTRY_USAGE = `portcullis agents add ID --owner USER --max-classification LEVEL [--role R]... [--scope TOOL:ACTION]...
                         [--purpose TEXT] [--trust-level LEVEL] [--risk-profile P] [--max-token-ttl SECONDS] [--jwks FILE]
       portcullis agents show ID
       portcullis agents suspend ID [--reason TEXT]       refuses its calls, revokes its tokens, on every replica
       portcullis agents resume ID [--reason TEXT]        (admin)
       portcullis agents retire ID [--reason TEXT]        for good (admin)`;

export const REGISTRY_OPTIONS = {
  owner: { type: 'string' },
  'max-classification': { type: 'string' },
  role: { type: 'string', multiple: true },
  scope: { type: 'string', multiple: true },
  purpose: { type: 'string' },
  'trust-level': { type: 'string' },
  'risk-profile': { type: 'string' },
  'max-token-ttl': { type: 'string' },
  jwks: { type: 'string' },
} as const;

type Values = { url?: string; token?: string; reason?: string } & { [K in keyof typeof REGISTRY_OPTIONS]?: (typeof REGISTRY_OPTIONS)[K] extends { multiple: true } ? string[] : string };

export function registryCommand(sub: string, id: string | undefined, values: Values): Promise<number> {
  if (!id) throw new UsageError(`agents ${sub} needs the agent id`);
  const path = `/admin/agents/${encodeURIComponent(id)}`;
  if (sub === 'show') return adminCall(values, 'GET', path);
  if (sub !== 'add') return adminCall(values, 'POST', `${path}/${sub}`, values.reason ? { reason: values.reason } : {});
  if (!values.owner || !values['max-classification']) throw new UsageError('agents add needs --owner and --max-classification');
  const ttl = values['max-token-ttl'];
  if (ttl !== undefined && !/^[1-9][0-9]*$/.test(ttl)) throw new UsageError('--max-token-ttl is a whole number of seconds');
  let credentials: unknown;
  if (values.jwks) {
    try {
      credentials = JSON.parse(readFileSync(values.jwks, 'utf8'));
    } catch (err) {
      throw new UsageError(`--jwks ${values.jwks}: ${(err as Error).message}`);
    }
  }
  return adminCall(values, 'POST', '/admin/agents', {
    id,
    owner: values.owner,
    max_classification: values['max-classification'],
    ...(values.role ? { roles: values.role } : {}),
    ...(values.scope ? { scopes: values.scope } : {}),
    ...(values.purpose ? { purpose: values.purpose } : {}),
    ...(values['trust-level'] ? { trust_level: values['trust-level'] } : {}),
    ...(values['risk-profile'] ? { risk_profile: values['risk-profile'] } : {}),
    ...(ttl ? { max_token_ttl: Number(ttl) } : {}),
    ...(credentials ? { credentials } : {}),
  });
}
