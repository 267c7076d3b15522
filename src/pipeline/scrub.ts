/**
 * Secrets never come back: an upstream that echoes the credential the gateway injected — a 401 page
 * quoting the Authorization header, a debug endpoint, a header reflecting it — would hand the agent
 * the very secret credential injection keeps from it. Every relayed answer of a tool with a
 * credential has the credential (and its bare token after the scheme) replaced in its headers and
 * body, streamed bodies included, whatever the status. Such tools are asked for identity encoding
 * (inject.ts); an answer compressed anyway cannot be searched, so it is refused as upstream_error.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { RuntimeConfig } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { CallContext } from './context.js';
import { discardBody, type UpstreamResponse } from './forward.js';

const REDACTED = Buffer.from('[redacted]');
/** A bare token shorter than this is too likely to be ordinary text to be searched for. */
const MIN_SECRET = 8;

export function createScrub(config: RuntimeConfig, metrics: Metrics) {
  const secretsByTool = new Map<string, Secrets>();
  for (const tool of config.tools.values()) {
    if (!tool.credential) continue;
    const value = tool.credential.value;
    const space = value.indexOf(' ');
    const texts = [value, ...(space > 0 && value.length - space - 1 >= MIN_SECRET ? [value.slice(space + 1)] : [])].filter((t) => t.length > 0);
    secretsByTool.set(tool.name, { texts, bytes: texts.map((t) => Buffer.from(t)) });
  }

  return function scrub(ctx: CallContext, res: UpstreamResponse): UpstreamResponse {
    const secrets = secretsByTool.get(ctx.tool!.name);
    if (!secrets) return res;
    const encoding = res.headers['content-encoding'];
    if (encoding !== undefined && String(encoding).toLowerCase() !== 'identity') {
      discardBody(res.body);
      throw new GatewayError('upstream_unscannable', `The upstream answered with Content-Encoding ${JSON.stringify(encoding)}, which the gateway cannot search for the injected credential.`);
    }
    // The common answer echoes nothing: searched without a copy, and returned as it came.
    let headers = res.headers;
    if (headersEcho(headers, secrets.texts)) {
      headers = {};
      for (const name in res.headers) {
        const v = res.headers[name]!;
        headers[name] = Array.isArray(v) ? v.map((x) => replaceText(x, secrets)) : replaceText(v, secrets);
      }
      metrics.credentialEcho.labels(ctx.tool!.name).inc();
    }
    let body = res.body;
    if (Buffer.isBuffer(body)) {
      const clean = replaceAll(body, secrets.bytes);
      if (clean !== body) {
        metrics.credentialEcho.labels(ctx.tool!.name).inc();
        body = clean;
        if (headers === res.headers) headers = { ...res.headers };
        headers['content-length'] = String(clean.length);
      }
    } else {
      // The length may change: the answer goes chunked.
      if (headers === res.headers) headers = { ...res.headers };
      delete headers['content-length'];
      const scrubber = new Scrubber(secrets.bytes, () => metrics.credentialEcho.labels(ctx.tool!.name).inc());
      (body as NodeJS.ReadableStream).on('error', (err) => scrubber.destroy(err));
      body = (body as NodeJS.ReadableStream).pipe(scrubber);
    }
    return headers === res.headers && body === res.body ? res : { status: res.status, headers, body };
  };
}

interface Secrets {
  readonly texts: readonly string[];
  readonly bytes: readonly Buffer[];
}

function headersEcho(headers: Record<string, string | string[]>, texts: readonly string[]): boolean {
  for (const name in headers) {
    const v = headers[name]!;
    for (const t of texts) if (Array.isArray(v) ? v.some((x) => x.includes(t)) : v.includes(t)) return true;
  }
  return false;
}

function replaceText(v: string, secrets: Secrets): string {
  for (const t of secrets.texts) if (v.includes(t)) return replaceAll(Buffer.from(v), secrets.bytes).toString();
  return v;
}

/** The buffer with every occurrence of every secret replaced; the same buffer when there was none. */
function replaceAll(buf: Buffer, secrets: readonly Buffer[]): Buffer {
  let out = buf;
  for (const secret of secrets) {
    let at = out.indexOf(secret);
    if (at < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at >= 0) {
      parts.push(out.subarray(from, at), REDACTED);
      from = at + secret.length;
      at = out.indexOf(secret, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}

/**
 * The streaming form: holds back only a chunk's end that could be the start of a secret, so an
 * event stream's events are not delayed waiting for bytes that will never complete a secret.
 */
class Scrubber extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  private readonly longest: number;

  constructor(private readonly secrets: readonly Buffer[], private readonly onEcho: () => void) {
    super();
    this.longest = Math.max(...secrets.map((s) => s.length));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const joined = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const buf = replaceAll(joined, this.secrets);
    if (buf !== joined) this.onEcho();
    const keep = this.heldBack(buf);
    this.pending = keep ? buf.subarray(buf.length - keep) : Buffer.alloc(0);
    cb(null, keep ? buf.subarray(0, buf.length - keep) : buf);
  }

  override _flush(cb: TransformCallback): void {
    cb(null, this.pending.length ? this.pending : undefined);
  }

  private heldBack(buf: Buffer): number {
    for (let k = Math.min(this.longest - 1, buf.length); k > 0; k--) {
      const tail = buf.subarray(buf.length - k);
      if (this.secrets.some((s) => s.length > k && s.subarray(0, k).equals(tail))) return k;
    }
    return 0;
  }
}
