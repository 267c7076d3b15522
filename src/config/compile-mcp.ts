/**
 * An MCP tool's operations, compiled into what the request path matches them by: `mcp_tool` (a
 * tools/call name, exact), `mcp_resource` (a URI pattern for resources/read, subscribe and
 * unsubscribe), `mcp_prompt` (a prompts/get name, exact) and `mcp_method` (a whole data method).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from './load.js';
import { requireDuration, requireSize as size } from './units.js';
import type { RawConfig } from './schema.js';
import { DATA_METHODS } from '../mcp/protocol.js';
import type { McpToolRoute, OperationRoute } from './compile.js';
import { unsafeUri, uriPattern } from '../mcp/resource-uri.js';

type RawTool = RawConfig['tools'][string];
type RawOperation = NonNullable<RawTool['operations']>[number];

/** What names an MCP operation: exactly one of these. */
const SELECTORS = ['mcp_tool', 'mcp_resource', 'mcp_prompt', 'mcp_method'] as const;

/** A resource operation: the URIs it covers, in the order the configuration lists them (first match wins). */
export interface ResourceRule {
  readonly pattern: string;
  readonly matches: RegExp;
  readonly operation: OperationRoute;
}

/** Checks one operation of a tool: an MCP tool's operations are named by an MCP selector, an HTTP tool's never. */
export function checkMcpOperation(opAt: string, op: RawOperation, protocol: RawTool['protocol']): void {
  const named = SELECTORS.filter((k) => op[k] !== undefined);
  if (protocol !== 'mcp') {
    if (named.length > 0) throw new ConfigError(`${opAt}.${named[0]}`, `${SELECTORS.join(', ')} apply only to a tool with protocol: mcp`);
    return;
  }
  if (named.length !== 1) throw new ConfigError(`${opAt}.mcp_tool`, `an mcp operation names exactly one of ${SELECTORS.join(', ')}${named.length ? ` (got ${named.join(' and ')})` : ''}`);
  if (op.mcp_method !== undefined && !DATA_METHODS.includes(op.mcp_method)) {
    throw new ConfigError(`${opAt}.mcp_method`, `must be one of ${DATA_METHODS.join(', ')} (got ${JSON.stringify(op.mcp_method)})`);
  }
  if (op.mcp_resource !== undefined && unsafeUri(op.mcp_resource.replaceAll('*', 'x')) !== undefined) {
    throw new ConfigError(`${opAt}.mcp_resource`, `is not a URI pattern the gateway can match safely: ${unsafeUri(op.mcp_resource.replaceAll('*', 'x'))}`);
  }
  if (op.method !== undefined || op.path !== undefined) throw new ConfigError(opAt, 'an mcp operation is matched by its MCP selector, not by method and path');
}

export function compileMcp(at: string, t: RawTool, operations: readonly OperationRoute[]): McpToolRoute {
  const tools = new Map<string, OperationRoute>();
  const methods = new Map<string, OperationRoute>();
  const prompts = new Map<string, OperationRoute>();
  const resources: ResourceRule[] = [];
  operations.forEach((op, i) => {
    const raw = t.operations![i]!;
    const unique = (map: Map<string, OperationRoute>, key: string, what: string) => {
      if (map.has(key)) throw new ConfigError(`${at}.operations.${i}.${what}`, `${JSON.stringify(key)} is already the operation ${map.get(key)!.name}`);
      map.set(key, op);
    };
    if (raw.mcp_tool !== undefined) unique(tools, raw.mcp_tool, 'mcp_tool');
    else if (raw.mcp_prompt !== undefined) unique(prompts, raw.mcp_prompt, 'mcp_prompt');
    else if (raw.mcp_method !== undefined) unique(methods, raw.mcp_method, 'mcp_method');
    else {
      const pattern = raw.mcp_resource!;
      const dup = resources.find((r) => r.pattern === pattern);
      if (dup) throw new ConfigError(`${at}.operations.${i}.mcp_resource`, `${JSON.stringify(pattern)} is already the operation ${dup.operation.name}`);
      resources.push({ pattern, matches: uriPattern(pattern), operation: op });
    }
  });
  const m = t.mcp;
  const pins = new Map(Object.entries(m?.pins ?? {}));
  for (const name of pins.keys()) if (!tools.has(name)) throw new ConfigError(`${at}.mcp.pins.${name}`, 'pins a tool no operation names in mcp_tool');
  return {
    tools,
    methods,
    prompts,
    resources,
    allowedOrigins: new Set((m?.allowed_origins ?? []).map((o) => o.toLowerCase())),
    pins,
    maxListBytes: size(m?.max_list_bytes ?? '4mb', `${at}.mcp.max_list_bytes`),
    serverRequests: new Set(m?.server_requests ?? []),
  };
}

/** Where the pipeline reaches a stdio server: its bridge, over a Unix socket (forward.ts). */
export const STDIO_URL = 'http://localhost/mcp';

export interface StdioServer {
  /** Absolute: resolved at start against the gateway's PATH, since the child gets none. */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly maxSessions: number;
  readonly idleTimeoutMs: number;
}

export function compileStdio(at: string, t: RawTool, baseDir: string): StdioServer {
  const u = t.upstream as Exclude<NonNullable<RawTool['upstream']>, string>;
  if (t.protocol !== 'mcp') throw new ConfigError(`${at}.upstream`, 'a command is an MCP server over stdio: it needs protocol: mcp');
  if (t.credentials) throw new ConfigError(`${at}.credentials`, 'a stdio server gets its secrets through upstream.env, not a header');
  const cwd = resolve(baseDir, u.cwd ?? '.');
  const idleTimeoutMs = requireDuration(u.idle_timeout, `${at}.upstream.idle_timeout`);
  if (idleTimeoutMs <= 0) throw new ConfigError(`${at}.upstream.idle_timeout`, 'must be longer than 0s');
  return { command: executable(u.command, cwd, `${at}.upstream.command`), args: u.args, env: { ...u.env }, cwd, maxSessions: u.max_sessions, idleTimeoutMs };
}

/** A path (relative to cwd) or a name looked up in the gateway's PATH; it must be an executable file. */
function executable(command: string, cwd: string, at: string): string {
  const candidates = command.includes('/') ? [isAbsolute(command) ? command : resolve(cwd, command)] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, command));
  for (const c of candidates) {
    try {
      if (statSync(c).isFile()) {
        accessSync(c, constants.X_OK);
        return c;
      }
    } catch {
      // not this one
    }
  }
  throw new ConfigError(at, `${JSON.stringify(command)} is not an executable file${command.includes('/') ? '' : ' on the gateway\'s PATH'}`);
}

/** A virtual MCP server: one endpoint over several MCP tools, each call authorised as its own tool. */
export interface VirtualServer {
  readonly name: string;
  readonly servers: readonly string[];
}

export function compileVirtualServers(raw: RawConfig, tools: ReadonlyMap<string, { readonly protocol: string }>): ReadonlyMap<string, VirtualServer> {
  const out = new Map<string, VirtualServer>();
  for (const [name, t] of Object.entries(raw.tools)) {
    if (!t.servers) continue;
    const at = `tools.${name}`;
    if (t.protocol !== 'mcp') throw new ConfigError(`${at}.servers`, 'a virtual server presents MCP tools: it needs protocol: mcp');
    for (const key of ['upstream', 'operations', 'credentials', 'mcp', 'tls'] as const) {
      if (t[key] !== undefined) throw new ConfigError(`${at}.${key}`, 'does not apply to a virtual server: each call is authorised, and sent, as the MCP tool it names');
    }
    for (const [i, s] of t.servers.entries()) {
      if (tools.get(s)?.protocol !== 'mcp') throw new ConfigError(`${at}.servers.${i}`, `names ${JSON.stringify(s)}, which is not an MCP tool (nor may it be another virtual server)`);
    }
    out.set(name, { name, servers: [...t.servers] });
  }
  return out;
}
