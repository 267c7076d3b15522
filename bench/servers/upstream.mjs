// The benchmark's tool: a plain node:http JSON API. `PORT` and `DELAY_MS` from the environment.
import { createServer } from 'node:http';

const delay = Number(process.env.DELAY_MS ?? 0);
const body = JSON.stringify({
  contact: { id: 'c-1', name: 'Ada Moreau', company: 'Northwind', email: 'ada@northwind.example' },
  notes: Array.from({ length: 12 }, (_, i) => ({ id: i, text: `Follow-up call number ${i} about the renewal and the invoice.` })),
});

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const reply = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    delay > 0 ? setTimeout(reply, delay) : reply();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.send?.({ ready: server.address().port }));
