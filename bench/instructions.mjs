// `npm run bench:instructions` — the CPU work of one call, counted in instructions instead of seconds.
// Requests/s on a shared VM move ±30% between rounds; an instruction count does not: valgrind's
// callgrind counts what the process executes, however fast the machine runs it — as long as the
// load keeps the server saturated (fewer calls per event-loop turn cost more instructions each).
// Each configuration runs its server under `valgrind --tool=callgrind` (pinned to the last core; the upstream and
// autocannon run natively on the first), takes WARMUP calls (JIT, pools, caches), then WINDOWS windows
// of CALLS calls each: counters zeroed before a window (callgrind_control -z), dumped after it (-d).
// Per window: user-space instructions of every thread of the server, per call; the optimizing JIT's
// share (TurboFan/Maglev compile jobs, a warm-up cost that tails off) is reported and left out of the
// headline, which is the median over the windows with its range.
//
// What the count does not see: the kernel. strace shows the bare proxy and the default making the same
// socket syscalls per call (two writev, two read) and the default adding batched file writes (audit
// group commit, 64 KB access-log batches), so kernel time per call is close to equal. For a ratio
// below 1, adding an equal amount to both sides moves it towards 1: bare ÷ Portcullis in instructions
// is a conservative estimate of the throughput ratio (it does not see cache misses either). One more
// skew: valgrind hides the CPU's SHA extensions, so OpenSSL hashes on its AVX2 path (≈ 30 instructions
// a byte, ≈ 10× what SHA-NI executes); the SHA-256 column shows how much of a count that is.
//
// Environment: CONFIGS=bare,default (names: bare, default, ladder — every ladder step —, or EXTRA
// entries, which are always added); EXTRA='<name>:VAR=v,…;…' as in bench/run.mjs (REPO=<checkout> runs
// another built checkout's server, an A/B against an earlier commit); WARMUP=6000 (the optimizing
// JIT is mostly done by then, never quite); WINDOWS=5 and CALLS=3000 (windows of 500 calls counted
// the bare proxy at 373k–666k in one run, as one or two collections fell in each; of 3000, 436k–483k;
// the median is the typical window, the mean in the JSON). The GC column is the collector's inclusive
// share (its tasks on V8's worker threads and the collections run by the allocating thread), and
// "without GC" what is left: the calls' own work, steadier within a run (the bare proxy 292k–323k,
// the default 548k–595k) but not across runs (the default counted 484k–518k without GC in the run
// before, same build: a load's batching moves it), so compare configurations within one run;
// CONNECTIONS=16; CORE=<n> (the servers' core; the last by default; the count holds only while the
// load keeps the server saturated: a second run on the machine starves autocannon, batches shrink,
// and the bare proxy counted 477k instead of 358k); SCENARIO=json (POST 2 KB) | get |
// 64k | slow (as in bench/run.mjs); OUT=<file stem>; VERBOSE=1 prints each window. PROFILE=1 adds where the instructions of the
// windows went (JIT compile jobs included): node runs with --perf-basic-prof (its JIT code named in
// /tmp/perf-<pid>.map) and callgrind with --separate-callers, so native work (JSON.stringify, hashing,
// IC handlers) is charged to the JavaScript function that asked for it (bench/callgrind-profile.mjs);
// the counts move a little with those flags on.
// Results: bench/results/<date>-instructions.{md,json}.
import { execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchIssuer, DEFAULT, extraConfigs, LADDER, median, SCENARIOS, taskset } from './common.mjs';
import { byJsFunction, inclusiveOf, namedSelfCosts, perfMap, readCallgrind } from './callgrind-profile.mjs';

const env = process.env;
const CALLS = Number(env.CALLS ?? 3000);
const WINDOWS = Number(env.WINDOWS ?? 5);
const WARMUP = Number(env.WARMUP ?? 6000);
const CONNECTIONS = Number(env.CONNECTIONS ?? 16);
const PROFILE = env.PROFILE === '1';
const TOP = Number(env.TOP ?? 25);
const SCENARIO = env.SCENARIO ?? 'json';
const scenario = SCENARIOS[SCENARIO];
if (!scenario) throw new Error(`SCENARIO must be one of ${Object.keys(SCENARIOS).join(', ')}`);
const here = new URL('.', import.meta.url).pathname;
const ncpu = cpus().length;
const SERVER_CORE = Number(env.CORE ?? ncpu - 1);
/** Frames whose inclusive cost is the optimizing JIT at work (on V8's worker threads). */
const JIT = /OptimizingCompileDispatcher::CompileTask::RunInternal|MaglevConcurrentDispatcher::JobTask::Run\b/;
/**
 * Frames whose inclusive cost is the garbage collector: collections the allocating thread runs
 * (scavenges, the atomic pause of a full one), incremental marking steps, and the collector's jobs on
 * V8's worker threads (parallel scavenge, concurrent marking, sweeping, evacuation, unmapping).
 */
const GC = new RegExp([
  String.raw`^v8::internal::Heap::(CollectGarbage|CollectAllGarbage|StartIncrementalMarking|FinalizeIncrementalMarkingAtomically)\(`,
  String.raw`^v8::internal::IncrementalMarking::(Step|AdvanceOnAllocation|AdvanceAndFinalizeIfComplete|Advance)\b`,
  String.raw`^v8::internal::(IncrementalMarkingJob|MinorGCJob|ScavengeJob|MemoryReducer::TimerTask)::Task::RunInternal`,
  String.raw`^v8::internal::(ConcurrentMarking::JobTask\w*|ScavengerCollector::JobTask|ParallelClearingJob|PageEvacuationJob|PointersUpdatingJob|MarkCompactCollector::\w*Job\w*|ConcurrentMinorGCMarkingJob\w*)::Run\b`,
  String.raw`^v8::internal::(Sweeper|ArrayBufferSweeper|MemoryAllocator::Unmapper)::\w*(Job|Task)\w*::(Run|RunInternal|Sweep\w*)\b`,
  String.raw`^cppgc::internal::.*(Task|Job\w*)::Run\b`,
].join('|'));

for (const [tool, hint] of [['valgrind', 'apt-get install valgrind'], ['callgrind_control', 'part of valgrind']]) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} not found (${hint})`);
}

const BARE = 'bare @fastify/http-proxy';
const named = { bare: [[BARE, { SERVER: 'bare' }]], default: LADDER.filter(([n]) => n === DEFAULT), ladder: LADDER };
const configs = [];
for (const name of (env.CONFIGS ?? 'bare,default').split(',').map((s) => s.trim()).filter(Boolean)) {
  if (!named[name]) throw new Error(`CONFIGS: "${name}" is none of ${Object.keys(named).join(', ')}`);
  for (const c of named[name]) if (!configs.some(([n]) => n === c[0])) configs.push(c);
}
configs.push(...extraConfigs(env.EXTRA));

const dir = mkdtempSync(join(tmpdir(), 'portcullis-instructions-'));
const { jwksFile, mint } = await benchIssuer(dir);
const body = scenario.bytes ? JSON.stringify({ text: 'x'.repeat(scenario.bytes - 12) }) : undefined;

if (ncpu > 1) taskset(process.pid, 0);
const upstream = fork(join(here, 'servers', 'upstream.mjs'), [], { env: { ...env, DELAY_MS: String(scenario.delay) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
const upstreamPort = await new Promise((resolve) => upstream.once('message', (m) => resolve(m.ready)));
if (ncpu > 1) taskset(upstream.pid, 0);

/** One server under callgrind: its pid, port and the prefix of its dump files. */
async function startUnderCallgrind(i, vars) {
  const servers = vars.REPO ? join(vars.REPO, 'bench', 'servers') : join(here, 'servers');
  const script = join(servers, vars.SERVER === 'bare' ? 'bare-proxy.mjs' : 'gateway.mjs');
  const out = join(dir, `config-${i}`);
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind', `--callgrind-out-file=${out}.%p`, '--dump-instr=no', ...(PROFILE ? ['--separate-callers=12'] : []),
      process.execPath, ...(PROFILE ? ['--perf-basic-prof'] : []), ...(vars.NODE_FLAGS ?? '').split(' ').filter(Boolean), script,
    ],
    { env: { ...env, ...vars, UPSTREAM: `http://127.0.0.1:${upstreamPort}`, JWKS_FILE: jwksFile }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} under valgrind did not start in 5 minutes`)), 300_000);
    child.once('message', (m) => (clearTimeout(timer), resolve(m.ready)));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`${script} under valgrind exited with ${code}:\n${stderr}`))));
  });
  if (ncpu > 1) taskset(child.pid, SERVER_CORE);
  return { child, port, out };
}

function control(args, pid) {
  const text = execFileSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (!/OK/.test(text)) throw new Error(`callgrind_control ${args.join(' ')} ${pid}: ${text}`);
}

/** The newest dump of that server, read: its total, the optimizing JIT's and the collector's inclusive shares, SHA-256's self cost. */
function readDump(out, pid) {
  const prefix = `${out}.${pid}.`;
  const file = readdirSync(dir).map((f) => join(dir, f)).filter((f) => f.startsWith(prefix)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!file) throw new Error(`no callgrind dump ${prefix}*`);
  const dump = readCallgrind(file);
  let total = 0;
  for (const ir of dump.self.values()) total += ir;
  let sha = 0;
  for (const [fn, ir] of dump.self) if (fn.startsWith('sha256_block_data_order')) sha += ir;
  return { total, jit: inclusiveOf(dump, JIT), gc: inclusiveOf(dump, GC), sha, dump };
}

const load = (port, amount, token) =>
  autocannon({
    url: `http://127.0.0.1:${port}${scenario.path}`,
    connections: CONNECTIONS,
    amount,
    timeout: 60,
    method: scenario.method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });

console.log(`instructions per call under callgrind: ${scenario.label}; ${CONNECTIONS} connections, ${WARMUP} warm-up calls, ${WINDOWS} windows of ${CALLS}`);
const results = [];
for (const [i, [name, vars]] of configs.entries()) {
  const token = await mint();
  const started = Date.now();
  const server = await startUnderCallgrind(i, vars);
  const warm = await load(server.port, WARMUP, token);
  // A cold server under valgrind can keep the first of many connections past the timeout: only the
  // measured windows must be clean.
  if (warm.non2xx) throw new Error(`${name}: warm-up had ${warm.non2xx} non-2xx answers`);
  if (warm.errors) console.log(`  (${warm.errors} warm-up calls timed out or failed; the windows are checked)`);
  const windows = [];
  const profiled = { self: new Map(), calls: new Map() }; // every window's dump, summed (PROFILE=1)
  for (let w = 0; w < WINDOWS; w++) {
    control(['-z'], server.child.pid);
    const r = await load(server.port, CALLS, token);
    control(['-d', `window-${w}`], server.child.pid);
    if (r.non2xx || r.errors || r.requests.total !== CALLS) throw new Error(`${name}: window ${w} answered ${r.requests.total} of ${CALLS} calls, ${r.non2xx} non-2xx, ${r.errors} errors`);
    const { total, jit, gc, sha, dump } = readDump(server.out, server.child.pid);
    if (PROFILE) for (const [fn, ir] of dump.self) profiled.self.set(fn, (profiled.self.get(fn) ?? 0) + ir);
    if (env.VERBOSE) console.log(`  window ${w}: ${fmt(Math.round((total - jit) / CALLS))} (of which GC ${fmt(Math.round(gc / CALLS))}) + JIT ${fmt(Math.round(jit / CALLS))}`);
    windows.push({ perCall: Math.round((total - jit) / CALLS), gcPerCall: Math.round(gc / CALLS), mutatorPerCall: Math.round((total - jit - gc) / CALLS), jitPerCall: Math.round(jit / CALLS), shaPerCall: Math.round(sha / CALLS), totalPerCall: Math.round(total / CALLS) });
  }
  server.child.kill('SIGTERM');
  await new Promise((r) => (server.child.exitCode !== null ? r() : server.child.once('exit', r)));
  const per = windows.map((w) => w.perCall);
  const mut = windows.map((w) => w.mutatorPerCall);
  const row = {
    name, vars, windows,
    median: Math.round(median(per)), mean: Math.round(per.reduce((a, b) => a + b, 0) / per.length), min: Math.min(...per), max: Math.max(...per),
    gc: Math.round(median(windows.map((w) => w.gcPerCall))),
    sha: Math.round(median(windows.map((w) => w.shaPerCall))),
    mutator: { median: Math.round(median(mut)), min: Math.min(...mut), max: Math.max(...mut) },
    seconds: Math.round((Date.now() - started) / 1000),
  };
  if (PROFILE) {
    const lookup = perfMap(server.child.pid);
    const top = (list) => list.slice(0, TOP).map(([fn, ir]) => ({ fn: fn.slice(0, 160), perCall: Math.round(ir / (CALLS * WINDOWS)) }));
    row.profile = { byJsFunction: top(byJsFunction(profiled, lookup)), self: top(namedSelfCosts(profiled, lookup)) };
  }
  results.push(row);
  console.log(`${name}: ${fmt(row.median)} instructions/call (${fmt(row.min)}–${fmt(row.max)}; GC ${fmt(row.gc)}; without GC ${fmt(row.mutator.median)}, ${fmt(row.mutator.min)}–${fmt(row.mutator.max)}; JIT ${windows.map((w) => fmt(w.jitPerCall)).join(', ')}) in ${row.seconds} s`);
}
upstream.kill('SIGTERM');

const bare = results.find((r) => r.name === BARE);
for (const r of results) {
  r.bareRatio = bare ? Math.round((100 * bare.median) / r.median) / 100 : undefined;
  r.bareRatioWithoutGc = bare ? Math.round((100 * bare.mutator.median) / r.mutator.median) / 100 : undefined;
}
const date = new Date().toISOString().slice(0, 10);
const stem = env.OUT ?? `${date}-instructions${SCENARIO === 'json' ? '' : `-${SCENARIO}`}`;
const machine = `${ncpu} × ${cpus()[0]?.model}, node ${process.version}, ${execFileSync('valgrind', ['--version'], { encoding: 'utf8' }).trim()}`;
const result = { date, machine, scenario: scenario.label, connections: CONNECTIONS, warmup: WARMUP, calls: CALLS, windows: WINDOWS, results };
writeFileSync(join(here, 'results', `${stem}.json`), JSON.stringify(result, null, 2) + '\n');
const lines = [
  `# Instructions per call, ${date}`,
  '',
  `${machine}. ${scenario.label}; autocannon, ${CONNECTIONS} connections; each server under \`valgrind --tool=callgrind\`, ${WARMUP} warm-up calls, then ${WINDOWS} windows of ${CALLS} calls (\`npm run bench:instructions\`).`,
  'User-space instructions of every thread of the server per call, the optimizing JIT left out (its column: the compile jobs that ran in each window). The kernel is not counted: see bench/instructions.mjs.',
  'Without GC: the same less the garbage collector (scavenges, incremental and concurrent marking, sweeping), whose share moves with V8\'s heap heuristics from window to window; what is left is the work of the calls themselves.',
  '',
  '| configuration | instructions / call (median) | range | mean | of which SHA-256 | of which GC (median) | without GC (median, range) | JIT / call, per window | bare ÷ this | bare ÷ this, without GC |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map((r) => `| ${r.name} | ${fmt(r.median)} | ${fmt(r.min)}–${fmt(r.max)} | ${fmt(r.mean)} | ${fmt(r.sha)} | ${fmt(r.gc)} | ${fmt(r.mutator.median)} (${fmt(r.mutator.min)}–${fmt(r.mutator.max)}) | ${r.windows.map((w) => fmt(w.jitPerCall)).join(', ')} | ${r.bareRatio ?? '—'} | ${r.bareRatioWithoutGc ?? '—'} |`),
  '',
];
for (const r of results.filter((x) => x.profile)) {
  lines.push(`## Where ${r.name} spends them (all windows, JIT compile jobs included; instructions per call)`, '', '| by the JavaScript function that asked (its own code and the native code it called) | / call |', '| --- | ---: |');
  lines.push(...r.profile.byJsFunction.map((x) => `| \`${x.fn.replaceAll('|', '\\|')}\` | ${fmt(x.perCall)} |`), '');
  lines.push('| by function (self) | / call |', '| --- | ---: |', ...r.profile.self.map((x) => `| \`${x.fn.replaceAll('|', '\\|')}\` | ${fmt(x.perCall)} |`), '');
}
writeFileSync(join(here, 'results', `${stem}.md`), lines.join('\n'));
console.log(`\nwritten: bench/results/${stem}.md and .json; the callgrind dumps are in ${dir}`);

function fmt(n) {
  return n.toLocaleString('en-US');
}
