/**
 * Which application a `client_id` names: one of oauth_clients, or — where configured — a Client ID
 * Metadata Document (draft-ietf-oauth-client-id-metadata-document): the client_id is an https URL
 * whose JSON document lists the client's name and redirect URIs. The gateway fetches only URLs the
 * operator allowed (exact hosts), without following redirects, within 5 s and 16 KiB, and keeps a
 * document `cache_ttl`. The document must name itself (`client_id` equal to its URL), ask for no
 * client secret, and list redirect URIs that pass the same checks as configured ones.
 */
import { LRUCache } from 'lru-cache';
import type { AuthorizationCodeConfig, OAuthClientConfig } from '../config/compile-oauth-clients.js';
import { redirectUriProblem } from '../config/compile-oauth-clients.js';

const MAX_BYTES = 16 * 1024;
const TIMEOUT_MS = 5000;

export class ClientMetadataError extends Error {}

export interface ClientResolver {
  /** The client, or undefined when the id is neither registered nor an allowed document URL. Throws ClientMetadataError when a document is unusable. */
  resolve(clientId: string): Promise<OAuthClientConfig | undefined>;
  /** Whether a client_id may name a client (registered, or an allowed document URL), without fetching. */
  known(clientId: string): boolean;
}

export function createClientResolver(ac: AuthorizationCodeConfig): ClientResolver {
  const docs = ac.metadataDocuments;
  const cache = new LRUCache<string, OAuthClientConfig>({ max: 1000, ttl: docs?.cacheTtlMs || 1 });
  const allowed = (id: string) => docs !== undefined && docs.allow.some((re) => re.test(id));

  async function fetchDocument(url: string): Promise<OAuthClientConfig> {
    let body: string;
    try {
      const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS), headers: { accept: 'application/json' } });
      if (res.status !== 200) throw new ClientMetadataError(`the client metadata document answered ${res.status}`);
      body = await readBounded(res);
    } catch (err) {
      if (err instanceof ClientMetadataError) throw err;
      throw new ClientMetadataError(`the client metadata document could not be fetched (${(err as Error).message})`);
    }
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(body) as Record<string, unknown>;
    } catch {
      throw new ClientMetadataError('the client metadata document is not JSON');
    }
    if (doc?.client_id !== url) throw new ClientMetadataError('the client metadata document does not name itself (client_id must equal its URL)');
    if (doc.client_secret !== undefined || (doc.token_endpoint_auth_method ?? 'none') !== 'none') {
      throw new ClientMetadataError('a client named by its metadata document is public: no client_secret, token_endpoint_auth_method none');
    }
    const uris = Array.isArray(doc.redirect_uris) ? doc.redirect_uris : [];
    if (uris.length === 0 || uris.length > 16 || !uris.every((u) => typeof u === 'string' && redirectUriProblem(u) === undefined)) {
      throw new ClientMetadataError('the client metadata document needs 1 to 16 redirect_uris, each https, http on loopback, or a private-use scheme, without a fragment');
    }
    const name = typeof doc.client_name === 'string' && doc.client_name.trim() !== '' ? doc.client_name.trim().slice(0, 128) : new URL(url).host;
    return { id: url, name: `${name} (${new URL(url).host})`, agent: docs!.agent, redirectUris: new Set(uris as string[]), scopes: null };
  }

  return {
    known: (id) => ac.clients.has(id) || allowed(id),
    async resolve(id) {
      const registered = ac.clients.get(id);
      if (registered) return registered;
      if (!allowed(id)) return undefined;
      let client = cache.get(id);
      if (!client) {
        client = await fetchDocument(id);
        cache.set(id, client);
      }
      return client;
    },
  };
}

async function readBounded(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_BYTES) throw new ClientMetadataError(`the client metadata document is over ${MAX_BYTES} bytes`);
  const reader = res.body!.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > MAX_BYTES) {
      await reader.cancel();
      throw new ClientMetadataError(`the client metadata document is over ${MAX_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
