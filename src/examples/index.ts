/**
 * The bundled example tools (HTTP APIs and the MCP tracker) `dev.example_tools: true` starts in-process: each configured tool whose
 * name is one of the examples and whose upstream is on loopback gets its example API on that port.
 */
import type { RuntimeConfig } from '../config/compile.js';
import { createCrm } from './crm.js';
import { createEmail } from './email.js';
import type { ExampleApiOptions, ExampleServer } from './example-api.js';
import { createPayments } from './payments.js';
import { createTicketing } from './ticketing.js';
import { createTracker } from './tracker.js';
import { createWarehouse } from './warehouse.js';

export const EXAMPLE_TOOLS: Record<string, (opts: ExampleApiOptions) => ExampleServer> = {
  crm: createCrm,
  ticketing: createTicketing,
  email: createEmail,
  payments: createPayments,
  warehouse: createWarehouse,
  tracker: createTracker,
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface RunningExamples {
  readonly started: { tool: string; url: string }[];
  close(): Promise<void>;
}

export async function startExampleTools(config: RuntimeConfig): Promise<RunningExamples> {
  const apps: ExampleServer[] = [];
  const started: { tool: string; url: string }[] = [];
  try {
    for (const tool of config.tools.values()) {
      const create = tool.stdio ? undefined : EXAMPLE_TOOLS[tool.name];
      const url = new URL(tool.origin);
      if (!create || !LOOPBACK.has(url.hostname) || url.protocol !== 'http:') continue;
      const app = create({ credential: tool.credential });
      apps.push(app);
      await app.listen({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) });
      started.push({ tool: tool.name, url: tool.origin });
    }
  } catch (err) {
    await Promise.all(apps.map((a) => a.close()));
    throw err;
  }
  return { started, close: async () => void (await Promise.all(apps.map((a) => a.close()))) };
}
