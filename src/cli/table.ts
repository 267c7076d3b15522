/**
 * Admin CLI output for people: a list as an aligned table, timestamps in RFC 3339 (UTC), nested
 * values compact. Scripts pass --json and get the admin API's answer unchanged.
 */

export interface TableView {
  /** The answer's key holding the rows. */
  readonly list: string;
  readonly columns: readonly (readonly [header: string, cell: (row: Record<string, any>) => unknown])[];
}

/** Epoch milliseconds (or seconds) become RFC 3339; objects a compact `key=value` list; absent a dash. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value === 'number' && value > 1e12) return new Date(value).toISOString();
  if (Array.isArray(value)) return value.length ? value.map(cell).join(',') : '-';
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}=${cell(v)}`).join(' ');
  return String(value).replace(/\s+/g, ' ');
}

export function renderTable(answer: Record<string, unknown>, view: TableView): string | undefined {
  const rows = answer[view.list];
  if (!Array.isArray(rows)) return undefined;
  if (rows.length === 0) return `(no ${view.list})\n`;
  const grid = [view.columns.map(([h]) => h), ...rows.map((r) => view.columns.map(([, f]) => cell(f(r as Record<string, unknown>)).slice(0, 80)))];
  const widths = view.columns.map((_, i) => Math.max(...grid.map((line) => line[i]!.length)));
  return grid.map((line) => line.map((c, i) => (i === line.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

export const VIEWS = {
  approvals: {
    list: 'approvals',
    columns: [
      ['ID', (a) => a.id],
      ['STATUS', (a) => a.status],
      ['AGENT', (a) => a.fingerprint?.agent],
      ['USER', (a) => a.fingerprint?.user],
      ['TOOL', (a) => a.fingerprint?.tool],
      ['OPERATION', (a) => a.fingerprint?.operation],
      ['CREATED', (a) => a.created_at],
      ['EXPIRES', (a) => a.expires_at],
    ],
  },
  kills: {
    list: 'kills',
    columns: [
      ['ID', (k) => k.id],
      ['TARGET', (k) => k.target],
      ['BY', (k) => k.by],
      ['AT', (k) => k.at],
      ['REASON', (k) => k.reason],
    ],
  },
  agents: {
    list: 'agents',
    columns: [
      ['AGENT', (a) => a.id],
      ['STATUS', (a) => a.status],
      ['OWNER', (a) => a.owner],
      ['ROLES', (a) => a.roles],
      ['TRUST', (a) => (a.trust ? `${a.trust.score} ${a.trust.level}` : undefined)],
      ['CLASSIFICATION', (a) => a.max_classification],
    ],
  },
} as const satisfies Record<string, TableView>;
