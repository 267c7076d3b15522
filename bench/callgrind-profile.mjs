// Self cost per function from a callgrind dump, with V8's JIT code named: callgrind sees compiled
// JavaScript as anonymous addresses, and node's --perf-basic-prof writes /tmp/perf-<pid>.map (start,
// size, name of every code object), which names them. Used by bench/instructions.mjs (PROFILE=1).
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';

/**
 * A callgrind out file (format version 1, positions: line) read into self instructions per function
 * and the inclusive instructions of each caller → callee edge.
 */
export function readCallgrind(file) {
  const names = new Map(); // "(id)" → name, for callgrind's name compression
  const self = new Map();
  const calls = new Map();
  let fn = '';
  let callee = '';
  let inCall = false; // the cost line after calls= is the call's inclusive cost, not self cost
  for (const line of lines(file)) {
    if (line.startsWith('fn=')) {
      fn = compressed(names, line.slice(3));
    } else if (line.startsWith('cfn=')) {
      callee = compressed(names, line.slice(4));
    } else if (line.startsWith('calls=')) {
      inCall = true;
    } else if (/^[0-9+\-*]/.test(line)) {
      const ir = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (!Number.isFinite(ir)) continue;
      if (inCall) {
        inCall = false;
        const edges = calls.get(fn) ?? calls.set(fn, new Map()).get(fn);
        edges.set(callee, (edges.get(callee) ?? 0) + ir);
      } else {
        self.set(fn, (self.get(fn) ?? 0) + ir);
      }
    }
  }
  return { self, calls };
}

/** The file's lines, read 4 MB at a time (a dump with --separate-callers can pass V8's string limit). */
function* lines(file) {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(4 * 2 ** 20);
  let rest = Buffer.alloc(0);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) {
      const chunk = Buffer.concat([rest, buf.subarray(0, n)]);
      const end = chunk.lastIndexOf(10); // split at a newline byte, never inside a UTF-8 sequence
      if (end < 0) {
        rest = chunk;
        continue;
      }
      yield* chunk.toString('utf8', 0, end).split('\n');
      rest = Buffer.from(chunk.subarray(end + 1));
    }
    if (rest.length) yield rest.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function compressed(names, value) {
  const m = /^(\(\d+\))(?: (.*))?$/.exec(value);
  if (!m) return value;
  if (m[2] !== undefined) names.set(m[1], m[2]);
  return names.get(m[1]) ?? value;
}

/** A lookup from code address to the JIT code object's name, from a perf map; later entries win. */
export function perfMap(pid) {
  const file = `/tmp/perf-${pid}.map`;
  if (!existsSync(file)) return undefined;
  const entries = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) entries.push({ start: parseInt(m[1], 16), end: parseInt(m[1], 16) + parseInt(m[2], 16), name: m[3], order: entries.length });
  }
  entries.sort((a, b) => a.start - b.start || a.order - b.order);
  return (address) => {
    let lo = 0;
    let hi = entries.length - 1;
    let found;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid].start <= address) (found = mid), (lo = mid + 1);
      else hi = mid - 1;
    }
    // The latest code object that covers the address (code space is reused after a collection).
    let best;
    for (let i = found ?? -1; i >= 0 && i > (found ?? 0) - 64; i--) {
      const e = entries[i];
      if (address < e.end && (!best || e.order > best.order)) best = e;
    }
    return best?.name;
  };
}

/** Names a function of the dump: JIT addresses through the perf map where it knows them. */
function namer(lookup) {
  return (fn) => {
    const hex = /^0x([0-9a-f]+)$/.exec(fn);
    if (!hex) return fn;
    return (lookup && lookup(parseInt(hex[1], 16))) ?? '(JIT code, unnamed)';
  };
}

/** Self cost by function (its own frame, whoever called it), JIT addresses named; largest first. */
export function namedSelfCosts(dump, lookup) {
  const name = namer(lookup);
  const out = new Map();
  for (const [fn, ir] of dump.self) {
    const own = name(fn.split("'")[0]);
    out.set(own, (out.get(own) ?? 0) + ir);
  }
  return [...out].sort((a, b) => b[1] - a[1]);
}

/**
 * Inclusive instructions of the functions whose own name (the first frame of a context) matches `re`:
 * their self cost and the cost of what they call, calls between two of them counted once.
 */
export function inclusiveOf(dump, re) {
  const own = (fn) => re.test(fn.split("'")[0]);
  let total = 0;
  for (const fn of new Set([...dump.self.keys(), ...dump.calls.keys()])) {
    if (!own(fn)) continue;
    total += dump.self.get(fn) ?? 0;
    for (const [to, ir] of dump.calls.get(fn) ?? []) if (!own(to)) total += ir;
  }
  return total;
}

/**
 * Self cost attributed to the nearest JavaScript function on the stack: with callgrind's
 * --separate-callers=N a function's name is `fn'caller1'caller2'…`, so native work (JSON.stringify,
 * hashing, IC handlers, the collector's allocation path) lands on the JS function that asked for it.
 * Contexts with no JS frame within N callers are kept under their own (native) name.
 */
export function byJsFunction(dump, lookup) {
  const name = namer(lookup);
  const out = new Map();
  for (const [fn, ir] of dump.self) {
    // A part of only digits is callgrind's recursion depth ('2), not a caller.
    const frames = fn.split("'").filter((p) => !/^\d+$/.test(p)).map(name);
    const js = frames.find((f) => f.startsWith('JS:'));
    const key = js ?? `(native) ${frames[0]}`;
    out.set(key, (out.get(key) ?? 0) + ir);
  }
  return [...out].sort((a, b) => b[1] - a[1]);
}
