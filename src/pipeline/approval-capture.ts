/**
 * What an approver sees: the held call as the gateway will forward it — who (agent, user, chain,
 * trust), what (tool, operation, classification, method, path, query, the JSON body or MCP
 * arguments) and why (the policy's reasons) — so that "approve" is a decision, not a rubber stamp.
 * The content follows the tool's `capture` rules: only `fields` when set, values at `mask` and under
 * any key that names a secret replaced by "[masked]", and at most `max_bytes` of it. The injected
 * credential is never part of it: it is attached after the hold.
 */
import type { CaptureRules } from '../config/compile-capture.js';
import type { Approval } from '../state/store.js';
import type { CallContext } from './context.js';
import { exceedsDepth, MAX_JSON_DEPTH } from '../mcp/json-depth.js';

export const MASKED = '[masked]';
// Keys whose values are secrets whatever the tool: compared lower-cased, without `-` and `_`.
const SECRET_KEY = /(password|passwd|passphrase|secret|token|authorization|apikey|privatekey|credential|cookie|session|^otp$|otpcode|^pin$|cvv|cvc|cardnumber|^iban$|^ssn$)/;

export interface CapturedCall {
  readonly agent: string;
  readonly user: string | null;
  readonly delegation: readonly string[];
  readonly task_id: string | null;
  readonly tool: string;
  readonly operation: string;
  readonly action: string;
  readonly risk: string;
  readonly classification: string;
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  /** The JSON body or MCP arguments as captured; null when there is none or it is not JSON. */
  readonly content: unknown;
  readonly content_note: 'none' | 'complete' | 'fields' | 'not_json' | 'too_large';
  readonly body_bytes: number | null;
  readonly body_sha256: string | null;
  readonly mcp: { readonly method: string | null; readonly tool: string | null; readonly uri?: string; readonly prompt?: string } | null;
  readonly trust: { readonly score: number; readonly level: string } | null;
  readonly reasons: readonly string[];
  readonly policy_revision: string;
}

export function captureCall(ctx: CallContext): CapturedCall {
  const p = ctx.principal!;
  const tool = ctx.tool!;
  const op = ctx.operation!;
  const rules = tool.capture;
  const q = ctx.url.indexOf('?');
  const { content, note } = captureContent(ctx, rules);
  return {
    agent: p.agentId,
    user: p.userId,
    delegation: p.delegation,
    task_id: p.taskId,
    tool: tool.name,
    operation: op.name,
    action: op.action,
    risk: op.risk,
    classification: tool.classification,
    method: ctx.method,
    path: q < 0 ? ctx.url : ctx.url.slice(0, q),
    query: q < 0 ? {} : captureQuery(ctx.url.slice(q + 1)),
    content,
    content_note: note,
    body_bytes: ctx.body?.bytes ?? null,
    body_sha256: ctx.body?.sha256 ?? null,
    mcp: ctx.mcp ? { method: ctx.mcp.method ?? null, tool: ctx.mcp.tool ?? null, uri: ctx.mcp.uri, prompt: ctx.mcp.prompt } : null,
    trust: ctx.trust ? { score: ctx.trust.score, level: ctx.trust.level } : null,
    reasons: ctx.decision?.reasons ?? [],
    policy_revision: ctx.decision?.revision ?? '',
  };
}

function captureContent(ctx: CallContext, rules: CaptureRules): { content: unknown; note: CapturedCall['content_note'] } {
  let value: unknown;
  if (ctx.mcp) value = ctx.mcp.arguments ?? null;
  else if (ctx.bufferedBody && ctx.bufferedBody.length > 0) {
    // The walk below recurses: a body nested past the limit is not shown (it is still forwarded as is).
    if (exceedsDepth(ctx.bufferedBody, MAX_JSON_DEPTH)) return { content: null, note: 'not_json' };
    try {
      value = JSON.parse(ctx.bufferedBody.toString('utf8'));
    } catch {
      return { content: null, note: 'not_json' };
    }
  } else return { content: null, note: 'none' };
  if (value === null || value === undefined) return { content: null, note: 'none' };
  let shown = masked(value, rules.mask, []);
  if (rules.fields) shown = pick(shown, rules.fields);
  if (Buffer.byteLength(JSON.stringify(shown)) > rules.maxBytes) return { content: null, note: 'too_large' };
  return { content: shown, note: rules.fields ? 'fields' : 'complete' };
}

function captureQuery(query: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(query)) {
    const value = isSecretKey(k) ? MASKED : v.slice(0, 1024);
    const prev = out[k];
    out[k] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.toLowerCase().replace(/[-_]/g, ''));
}

/** A copy with secret-named keys and the `mask` pointers' values replaced. */
function masked(value: unknown, mask: readonly (readonly string[])[], at: readonly string[]): unknown {
  if (mask.some((m) => m.length === at.length && m.every((t, i) => t === at[i]))) return MASKED;
  if (Array.isArray(value)) return value.map((v, i) => masked(v, mask, [...at, String(i)]));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? MASKED : masked(v, mask, [...at, k]);
  return out;
}

/** Only the values at `fields`, keyed by their pointers (RFC 6901); an absent field is left out. */
function pick(value: unknown, fields: readonly (readonly string[])[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const tokens of fields) {
    let v: unknown = value;
    for (const t of tokens) v = typeof v === 'object' && v !== null && Object.hasOwn(v, t) ? (v as Record<string, unknown>)[t] : undefined;
    if (v !== undefined) out[`/${tokens.map((t) => t.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`] = v;
  }
  return out;
}

/**
 * An approval as it leaves the store (API, webhook, audit event): the fingerprint keeps the exact
 * query the approval is bound to, so its secret-named parameters are masked on the way out.
 */
export function presented(a: Approval): Approval {
  const q = a.fingerprint.query;
  if (q === '') return { ...a };
  const params = new URLSearchParams(q);
  let masked = false;
  for (const k of new Set(params.keys())) {
    if (!isSecretKey(k)) continue;
    masked = true;
    const n = params.getAll(k).length;
    params.delete(k);
    for (let i = 0; i < n; i++) params.append(k, MASKED);
  }
  return masked ? { ...a, fingerprint: { ...a.fingerprint, query: params.toString() } } : { ...a };
}
