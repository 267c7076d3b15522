// An MCP server for bench/mcp.mjs, 2026-07-28 requests:
//   default   the example tracker (official SDK 2.x, as `npm start` runs it);
//   RAW=1     answers from memory: the tracker's own tools/list (asked once at start) and a fixed
//             tools/call result, in microseconds, so that what is measured is the gateway;
//   DELAY_MS  holds every request that long first: a server as far away as a real one.
import { createServer } from 'node:http';
import { createMcpToolServer } from '../../dist/examples/tracker.js';
import { trackerTools } from '../../dist/examples/tracker-tools.js';

const env = process.env;
const delay = Number(env.DELAY_MS ?? 0);
const credential = { header: 'authorization', value: 'Bearer bench-mcp-credential' };
const tracker = createMcpToolServer(trackerTools(), { credential });
const inner = new URL(await tracker.listen({ host: '127.0.0.1', port: 0 }));
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
const listed = await (
  await fetch(`${inner.href}`, {
    method: 'POST',
    headers: { authorization: credential.value, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } }),
  })
).json();

const answer = (id, result) => JSON.stringify({ jsonrpc: '2.0', id, result });
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () =>
    setTimeout(async () => {
      if (req.headers.authorization !== credential.value) return void res.writeHead(401).end();
      const msg = JSON.parse(body);
      if (env.RAW === '1' || msg.method === 'tools/list') {
        const text = msg.method === 'tools/list' ? answer(msg.id, listed.result) : answer(msg.id, { content: [{ type: 'text', text: 'ok' }] });
        return void res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      }
      const r = await fetch(inner.href, { method: 'POST', headers: req.headers, body });
      const text = await r.text();
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(text);
    }, delay),
  );
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => process.send?.({ ready: server.address().port }));
process.on('SIGTERM', () => process.exit(0));
