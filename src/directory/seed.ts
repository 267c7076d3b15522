/**
 * gateway.yaml's agents seed the registry: at start, an agent absent from the registry is created
 * from its gateway.yaml entry, and one the seed wrote last follows gateway.yaml when it changes.
 * Once SCIM, the admin API or the CLI has changed an agent, the registry is its truth and
 * gateway.yaml no longer overrides it (docs/provisioning.md). Every replica seeds the same ids
 * (derived from the agent id), so replicas starting together agree.
 */
import { createHash } from 'node:crypto';
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';
import { canonical } from '../audit/chain.js';
import { agentKey, type ProposedChange } from './lifecycle.js';
import type { DirectoryWriter } from './writer.js';
import { ScimError } from './scim/errors.js';

export const SEED = 'gateway.yaml';
const SEED_CHUNK = 5_000;

/** The SCIM id of a seeded agent: a UUID (v8 layout) derived from its agent id. */
export function seedId(agentId: string): string {
  const h = createHash('sha256').update(`portcullis-agent:${agentId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/** The registry attributes of a gateway.yaml agent (what SCIM shows of it). */
export function seedAttributes(a: AgentEntry): Record<string, unknown> {
  return JSON.parse(JSON.stringify({
    agentId: a.id, owner: a.owner, purpose: a.purpose, roles: a.roles, maxClassification: a.maxClassification,
    status: a.status, trustLevel: a.trustLevel, version: a.version, scopes: a.scopes,
    maxTokenTtl: a.maxTokenTtlSec, riskProfile: a.riskProfile ?? undefined,
  })) as Record<string, unknown>;
}

export async function seedRegistry(config: RuntimeConfig, state: StateStore, writer: DirectoryWriter, logger: Logger): Promise<{ created: number; updated: number }> {
  const changes: ProposedChange[] = [];
  const stale: string[] = [];
  const dir = state.directory();
  for (const agent of config.agents.values()) {
    const attributes = seedAttributes(agent);
    const held = dir.holder(agentKey(agent.id));
    if (!held) changes.push({ kind: 'Agent', id: seedId(agent.id), base: undefined, attributes });
    else if (canonical(held.attributes) === canonical(attributes)) continue;
    else if (held.by === SEED) changes.push({ kind: 'Agent', id: held.id, base: held, attributes });
    else stale.push(agent.id);
  }
  if (stale.length > 0) {
    // Said once per start: an edit of gateway.yaml that silently did nothing would be worse.
    logger.warn({ agents: stale.slice(0, 20), count: stale.length }, 'gateway.yaml differs from the registry for agents changed through SCIM, the admin API or the CLI since; the registry wins (change them there, e.g. `portcullis agents show`)');
  }
  if (changes.length === 0) return { created: 0, updated: 0 };
  // In chunks: one Redis script call carries three arguments per record, and a seed can be 100,000.
  for (let i = 0; i < changes.length; i += SEED_CHUNK) {
    const chunk = changes.slice(i, i + SEED_CHUNK);
    try {
      await writer.write(chunk, SEED);
    } catch (err) {
      // Another replica seeding at the same moment: take its records, one agent at a time.
      if (!(err instanceof ScimError)) throw err;
      for (const c of chunk) {
        await writer.write([c], SEED).catch((e: unknown) => {
          if (!(e instanceof ScimError)) throw e;
          logger.info({ agent: c.attributes?.agentId, reason: e.reason }, 'registry seed skipped an agent another writer changed first');
        });
      }
    }
  }
  const created = changes.filter((c) => !c.base).length;
  logger.info({ created, updated: changes.length - created }, 'registry seeded from gateway.yaml');
  return { created, updated: changes.length - created };
}
