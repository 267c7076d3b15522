/** The proxy listener's compiled form: where it listens, the URL agents know it by, and its slow-client bounds. */
import { ConfigError } from './load.js';
import type { RawConfig } from './schema.js';
import { requireDuration } from './units.js';

export interface ProxyListen {
  readonly host: string;
  readonly port: number;
  /** X-Forwarded-Proto and -Host sent upstream; absent: proto http, no host. */
  readonly publicUrl?: { readonly proto: string; readonly host: string };
  readonly timeouts: {
    /** From connection (or the previous response) to the end of the request headers. */
    readonly headersMs: number;
    /** From the first body byte the gateway waits for to the last. */
    readonly bodyMs: number;
    /** A kept-alive connection with no request in flight. */
    readonly idleMs: number;
  };
}

export function compileProxyListen(raw: RawConfig['listen']['proxy']): ProxyListen {
  const ms = (v: string | number, at: string) => {
    const n = requireDuration(v, `listen.proxy.timeouts.${at}`);
    if (n <= 0) throw new ConfigError(`listen.proxy.timeouts.${at}`, 'must be longer than 0s');
    return n;
  };
  let publicUrl: ProxyListen['publicUrl'];
  if (raw.public_url !== undefined) {
    const u = new URL(raw.public_url);
    publicUrl = { proto: u.protocol.slice(0, -1), host: u.host };
  }
  return {
    host: raw.host,
    port: raw.port ?? 8080,
    publicUrl,
    timeouts: { headersMs: ms(raw.timeouts.headers, 'headers'), bodyMs: ms(raw.timeouts.body, 'body'), idleMs: ms(raw.timeouts.idle, 'idle') },
  };
}
