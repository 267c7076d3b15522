/**
 * The example issue tracker's MCP tools, independent of the SDK that serves them (the bundled
 * server uses @modelcontextprotocol/server 2.x; tests also serve them with the 1.x SDK).
 * Arguments are zod shapes, which both SDKs accept.
 */
import * as z from 'zod';

interface Issue { id: string; title: string; body: string; priority: 'low' | 'normal' | 'high' | 'critical'; status: 'open' | 'closed'; comments: { by: string; text: string }[]; shared_with: string[] }

export interface ToolResult {
  content: { type: 'text'; text: string }[];
  isError?: boolean;
  [k: string]: unknown;
}

/** What a handler may do besides answer: report progress (makes the response a stream). */
export interface ToolExtra {
  progress(done: number, total: number, message: string): Promise<void>;
  /** Aborted when the client (or the gateway) gives up on the call. */
  signal: AbortSignal;
}

export interface TrackerTool {
  readonly name: string;
  /** Mutable on purpose: a test turns a tool into a "rug pull" by changing it. */
  description: string;
  /** Mutable too: what a client acts on beside the description (a UI resource, a hint). */
  meta?: Record<string, unknown>;
  readonly shape: z.ZodRawShape;
  handler(args: Record<string, unknown>, extra: ToolExtra): Promise<ToolResult>;
}

const text = (value: unknown): ToolResult => ({ content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) }] });
const failure = (message: string): ToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

/** A fresh tracker with its own issues (each server instance, or each test, gets its own). */
export function trackerTools(): TrackerTool[] {
  let next = 1;
  const issues = new Map<string, Issue>();
  const add = (i: Omit<Issue, 'id' | 'comments' | 'shared_with' | 'status'>): Issue => {
    const issue: Issue = { ...i, id: `ISS-${next++}`, status: 'open', comments: [], shared_with: [] };
    issues.set(issue.id, issue);
    return issue;
  };
  add({ title: 'Login page times out behind the VPN', body: 'Reported by three users since Monday.', priority: 'high' });
  add({ title: 'Export to CSV drops accented names', body: 'UTF-8 handling in the exporter.', priority: 'normal' });
  add({ title: 'Rotate the staging database password', body: 'Quarterly rotation.', priority: 'low' });
  const get = (id: unknown) => (typeof id === 'string' ? issues.get(id) : undefined);

  return [
    {
      name: 'search_issues',
      description: 'Search issues by words in their title or body.',
      shape: { query: z.string(), limit: z.number().int().positive().optional() },
      async handler({ query, limit }) {
        const q = String(query).toLowerCase();
        const found = [...issues.values()].filter((i) => `${i.title} ${i.body}`.toLowerCase().includes(q));
        return text(found.slice(0, typeof limit === 'number' ? limit : 20).map(({ id, title, status }) => ({ id, title, status })));
      },
    },
    {
      name: 'get_issue',
      description: 'Read one issue with its comments.',
      shape: { id: z.string() },
      async handler({ id }) {
        return get(id) ? text(get(id)) : failure(`no issue ${String(id)}`);
      },
    },
    {
      name: 'create_issue',
      description: 'File a new issue.',
      shape: { title: z.string().min(1), body: z.string().optional(), priority: z.enum(['low', 'normal', 'high', 'critical']).optional() },
      async handler({ title, body, priority }) {
        return text(add({ title: String(title), body: typeof body === 'string' ? body : '', priority: (priority as Issue['priority']) ?? 'normal' }));
      },
    },
    {
      name: 'add_comment',
      description: 'Comment on an issue.',
      shape: { id: z.string(), text: z.string().min(1) },
      async handler({ id, text: t }) {
        const issue = get(id);
        if (!issue) return failure(`no issue ${String(id)}`);
        issue.comments.push({ by: 'agent', text: String(t) });
        return text(issue);
      },
    },
    {
      name: 'share_issue',
      description: 'Email a link to an issue to someone.',
      shape: { id: z.string(), email: z.string() },
      async handler({ id, email }) {
        const issue = get(id);
        if (!issue) return failure(`no issue ${String(id)}`);
        issue.shared_with.push(String(email));
        return text(`shared ${issue.id} with ${String(email)}`);
      },
    },
    {
      name: 'delete_issue',
      description: 'Delete an issue for good.',
      shape: { id: z.string() },
      async handler({ id }) {
        return typeof id === 'string' && issues.delete(id) ? text(`deleted ${id}`) : failure(`no issue ${String(id)}`);
      },
    },
    {
      name: 'generate_report',
      description: 'Build a report of every issue, reporting progress as it goes (answers as a stream).',
      shape: { rows: z.number().int().positive().max(20_000).optional() },
      async handler({ rows }, extra) {
        const n = typeof rows === 'number' ? rows : 500;
        const lines: string[] = [];
        for (let i = 0; i < n; i++) {
          const issue = [...issues.values()][i % issues.size]!;
          lines.push(`${String(i + 1).padStart(6, '0')} ${issue.id} ${issue.status} ${issue.priority} ${issue.title}`);
          if ((i + 1) % Math.max(1, Math.floor(n / 4)) === 0) await extra.progress(i + 1, n, `${i + 1} of ${n} rows`);
        }
        return text(lines.join('\n'));
      },
    },
  ];
}
