/**
 * vitest globalSetup: what `npm test` needs besides Node.js, checked once before any test so that a
 * machine without it gets one message naming what is missing and how to get it — not a timeout in
 * the middle of the run. A Redis on 127.0.0.1:6379 is started for the run when none answers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';

const SUPPORTED = 'Node.js 24 or 26 (the maintained LTS lines)';

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

let redis: ChildProcess | undefined;

export async function setup(): Promise<void> {
  const missing: string[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) missing.push(`${SUPPORTED}; this is ${process.version}. scripts/node.sh oldest|newest fetches one from the npm registry`);
  if (!onPath('redis-server')) missing.push('redis-server (tests start their own Redis servers): apt-get install redis-server, or brew install redis');
  if (!process.env.OPA_BIN && !onPath('go')) {
    missing.push('the opa compiler v1.22.2 (policy builds): set OPA_BIN to one, or install Go (https://go.dev/dl) and scripts/opa.sh builds it — OPA publishes no npm package of the compiler');
  }
  if (missing.length > 0) {
    throw new Error(`npm test cannot run on this machine; missing:\n  - ${missing.join('\n  - ')}\n(see README, "Prerequisites")`);
  }
  if (!(await answers(6379))) {
    redis = spawn('redis-server', ['--port', '6379', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await answers(6379)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await answers(6379))) throw new Error('no Redis answers on 127.0.0.1:6379, and redis-server could not start one there');
  }
}

export async function teardown(): Promise<void> {
  redis?.kill();
}
