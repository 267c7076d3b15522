/**
 * Tool pinning against rug pulls: an MCP server can change a tool's description or input schema
 * after it was reviewed (an innocuous `search` that later tells the model to send secrets along).
 * The gateway keeps a digest of each tool's definition, taken when first listed or pinned in
 * gateway.yaml; a definition that no longer matches is hidden from tools/list and its calls are
 * refused (`mcp_tool_changed`) until an admin approves the new one. Pins live in the state store,
 * so every replica enforces the same ones.
 */
import { createHash } from 'node:crypto';
import { canonical } from '../audit/chain.js';

export interface ToolPin {
  readonly tool: string;
  /** The MCP tool name. */
  readonly name: string;
  /** The approved definition: "sha256:<hex>". */
  readonly digest: string;
  /** `changed`: the server now lists another definition (`observed`), hidden and refused until approved. */
  readonly status: 'approved' | 'changed';
  readonly observed?: string;
  readonly first_seen: string;
  readonly changed_at?: string;
  /** "first-seen", or the admin who approved the current digest. */
  readonly approved_by: string;
  readonly approved_at: string;
  /** `definition`: the digest covers the whole definition; absent on pins taken before it did (upgraded when next listed). */
  readonly covers?: 'definition';
}

/**
 * sha256 over the RFC 8785 canonical JSON of the tool's whole definition as listed: what the model
 * reads (title, description, schemas, annotations) and what clients act on (`_meta`, icons,
 * `execution`), so that no part of it can change unreviewed.
 */
export function definitionDigest(tool: Record<string, unknown>): string {
  return 'sha256:' + createHash('sha256').update(canonical(tool)).digest('hex');
}

/** The parts earlier pins covered, kept only to recognise (and upgrade) a pin taken that way. */
const LEGACY_KEYS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;

export function legacyDigest(tool: Record<string, unknown>): string {
  const def: Record<string, unknown> = {};
  for (const k of LEGACY_KEYS) if (tool[k] !== undefined) def[k] = tool[k];
  return 'sha256:' + createHash('sha256').update(canonical(def)).digest('hex');
}

export function pinKey(tool: string, name: string): string {
  return `${tool}/${name}`;
}

/**
 * What the gateway knows of a listed tool's definition (`digest`), or of a called tool's (no
 * digest: the last list decides): `ok`, `changed` (hide and refuse) or `new` (pin it now). A pin in
 * gateway.yaml is authoritative: only a config change approves another definition.
 */
export function pinVerdict(configPin: string | undefined, stored: ToolPin | undefined, digest: string | undefined): 'ok' | 'changed' | 'new' {
  const approved = configPin ?? stored?.digest;
  if (digest === undefined) return stored?.status === 'changed' && stored.observed !== approved ? 'changed' : 'ok';
  if (approved === undefined) return 'new';
  return digest === approved ? 'ok' : 'changed';
}
