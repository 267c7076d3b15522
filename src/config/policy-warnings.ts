/**
 * Mistakes a configuration can make that are not errors, found by reading the policy's data beside
 * it: an agent role the policy grants nothing (a typo in `roles` quietly denies every call) and a
 * tool the policy grants that no tool is (a typo in the data, or a tool that was renamed). Only for
 * a policy whose data has the shipped shape (`grants: role → tool → …`); other policies are not read.
 */
import type { RuntimeConfig } from './compile.js';

export function policyWarnings(config: RuntimeConfig, data: unknown): string[] {
  const grants = (data as { grants?: unknown } | undefined)?.grants;
  if (typeof grants !== 'object' || grants === null || Array.isArray(grants)) return [];
  const roles = new Map(Object.entries(grants as Record<string, unknown>));
  const warnings: string[] = [];
  for (const agent of config.agents.values()) {
    for (const role of agent.roles) {
      if (!roles.has(role)) warnings.push(`agents.${agent.id}.roles: the policy grants nothing to ${JSON.stringify(role)} (its roles: ${[...roles.keys()].sort().join(', ')}); every call of this agent by that role is denied`);
    }
  }
  for (const [role, tools] of roles) {
    if (typeof tools !== 'object' || tools === null) continue;
    for (const tool of Object.keys(tools)) {
      if (!config.tools.has(tool) && !config.virtualServers.has(tool)) warnings.push(`policy data grants ${role} the tool ${JSON.stringify(tool)}, which is not in tools`);
    }
  }
  return warnings;
}
