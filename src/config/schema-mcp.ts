/** The MCP parts of a tool in gateway.yaml (docs/mcp.md): its `mcp:` settings, and a server run over stdio. */
import { Type } from '@sinclair/typebox';

const Strict = { additionalProperties: false } as const;
const Duration = (dflt: string) => Type.Union([Type.String(), Type.Number()], { default: dflt });
const Size = (dflt: string) => Type.Union([Type.String(), Type.Number()], { default: dflt });

// An MCP server the gateway runs as a child process, speaking MCP over stdio (docs/mcp.md).
export const StdioUpstream = Type.Object(
  {
    command: Type.String({ minLength: 1 }),
    args: Type.Array(Type.String(), { default: [] }),
    // The child's whole environment: nothing of the gateway's is inherited (not even PATH).
    env: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), { default: {} }),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    // One process per MCP session; at most this many at once.
    max_sessions: Type.Integer({ minimum: 1, maximum: 1024, default: 16 }),
    // A session unused this long is ended (its process stopped).
    idle_timeout: Duration('15m'),
  },
  Strict,
);

/** tools.<name>.mcp: protocol: mcp only. */
export const McpSettings = Type.Object(
  {
    // Origin header values accepted (MCP transport: servers must validate Origin); a call without Origin passes.
    allowed_origins: Type.Array(Type.String({ pattern: '^https?://[^/]+$' }), { default: [] }),
    // Tool definitions pinned by digest ("sha256:<hex>"); other tools are pinned when first listed.
    pins: Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }), { default: {} }),
    // Largest answer the gateway reads whole: a tools/list to filter, a 2026-07-28 result to check for server requests.
    max_list_bytes: Size('4mb'),
    // What the server may ask the client for, during a call or on a stream; anything else is refused.
    server_requests: Type.Array(Type.Union([Type.Literal('sampling'), Type.Literal('elicitation'), Type.Literal('roots')]), { default: [], uniqueItems: true }),
  },
  Strict,
);
