// A steady background load for bench/propagation.mjs: RATE calls per second to each of TARGETS
// (comma-separated base URLs), as TOKEN, from one process (one load generator per replica would
// take more of a small machine than the replicas themselves).
import { Pool } from 'undici';

const env = process.env;
const rate = Number(env.RATE ?? 300);
const targets = env.TARGETS.split(',');
const pools = targets.map((url) => new Pool(url, { connections: 8 }));
const headers = { authorization: `Bearer ${env.TOKEN}` };
let sent = 0;
const started = performance.now();
const tick = () => {
  // Catch up to the schedule: `rate` per second per target, whatever the timer's jitter.
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  for (; sent < due; sent++) {
    for (const pool of pools) {
      pool.request({ method: 'GET', path: '/tools/crm/contacts/c-1', headers }).then((r) => r.body.dump(), () => undefined);
    }
  }
};
setInterval(tick, 5);
process.send?.({ ready: 0 });
