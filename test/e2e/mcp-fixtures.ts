/** A whole gateway in front of one MCP server, with the shipped policy and an admin IdP. */
import { startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { CREDENTIAL, type McpUpstream } from '../helpers/mcp.js';

export const TRACKER_OPERATIONS = [
  { name: 'search_issues', mcp_tool: 'search_issues', action: 'read' },
  { name: 'get_issue', mcp_tool: 'get_issue', action: 'read' },
  { name: 'generate_report', mcp_tool: 'generate_report', action: 'read' },
  { name: 'slow_stream', mcp_tool: 'slow_stream', action: 'read' },
  { name: 'create_issue', mcp_tool: 'create_issue', action: 'write' },
  { name: 'add_comment', mcp_tool: 'add_comment', action: 'write' },
  { name: 'share_issue', mcp_tool: 'share_issue', action: 'write' },
  { name: 'delete_issue', mcp_tool: 'delete_issue', action: 'write', risk: 'high' },
];

export interface McpGateway {
  readonly gw: RunningGateway;
  readonly agents: TestIssuer;
  readonly idp: TestIssuer;
  readonly url: string;
  token(agent: string, scope?: string): Promise<string>;
  /** An admin-API call as someone in `groups`. */
  admin(method: string, path: string, body?: unknown, groups?: string[]): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

const agent = (owner: string, roles: string[]) => ({ owner, roles, max_classification: 'confidential' });

export async function startMcpGateway(up: McpUpstream, tool: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<McpGateway> {
  const agents = await createTestIssuer();
  const idp = await createTestIssuer('https://sso.example.com', 'portcullis-admin');
  const config = testConfig(
    agents,
    {
      tracker: {
        upstream: up.url,
        protocol: 'mcp',
        classification: 'internal',
        credentials: CREDENTIAL,
        timeout: '5s',
        operations: TRACKER_OPERATIONS,
        mcp: { allowed_origins: ['https://console.example.com'] },
        ...tool,
      },
    },
    {
      agents: {
        'support-bot': agent('alice@example.com', ['support_agent']),
        'sales-bot': agent('bob@example.com', ['sales_ops_agent']),
        'itops-bot': agent('dan@example.com', ['it_ops_agent']),
        'kill-bot': agent('erin@example.com', ['support_agent']),
      },
      approvals: { hold: '10s', ttl: '1m', input_required_wait: '1s' },
      admin: { auth: { issuers: [{ issuer: idp.issuer, jwks_file: idp.jwksFile, audiences: ['portcullis-admin'] }], role_map: { approvers: 'approver', 'sec-ops': 'operator', platform: 'admin', soc: 'auditor' } } },
      ...extra,
    },
  );
  const gw = await startGateway(config, { policy: true });
  return {
    gw,
    agents,
    idp,
    url: `${gw.proxyUrl}/tools/tracker`,
    token: (a, scope = 'tracker:read tracker:write') => agents.token(a, scope),
    async admin(method, path, body, groups = ['platform', 'sec-ops', 'approvers', 'soc']) {
      const token = await idp.sign({ sub: 'ann@example.com', groups });
      const res = await fetch(`${gw.adminUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
    close: () => gw.close(),
  };
}
