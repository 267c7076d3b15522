// Charts for a bench result (bench/run.mjs), rendered to SVG with Vega-Lite: throughput per
// configuration, CPU per call, and latency-percentile curves at each fixed rate. `node bench/charts.mjs
// bench/results/<file>.json` re-renders the charts of a saved result.
import { writeFileSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const FONT = { font: 'Helvetica, Arial, sans-serif', labelFontSize: 11, titleFontSize: 12, labelLimit: 360 };

async function svg(spec) {
  const view = new vega.View(vega.parse(vegaLite.compile({ config: { axis: FONT, legend: FONT, title: { fontSize: 14 } }, ...spec }).spec), { renderer: 'none' });
  return view.toSVG();
}

/** Writes `<stem>-throughput.svg`, `<stem>-cpu.svg` and `<stem>-latency.svg`; returns their file names. */
export async function renderCharts(result, dir, stem) {
  const out = [];
  const order = [...new Set(result.saturation.map((r) => r.name))];
  const label = result.meta.label;
  if (result.saturation.length) {
    out.push(
      await write(dir, `${stem}-throughput.svg`, {
        title: { text: 'Throughput at saturation (median, with range)', subtitle: label },
        data: { values: result.saturation.map((r) => ({ ...r, conn: `${r.connections} connections` })) },
        facet: { row: { field: 'conn', type: 'nominal', title: null } },
        spec: {
          width: 460,
          height: { step: 16 },
          layer: [
            {
              mark: { type: 'bar', tooltip: true },
              encoding: {
                y: { field: 'name', type: 'nominal', sort: order, title: null },
                x: { field: 'rps', type: 'quantitative', title: 'requests/s' },
                color: { condition: { test: "indexof(datum.name, 'portcullis') === 0", value: '#c2410c' }, value: '#64748b' },
              },
            },
            { mark: { type: 'rule', color: '#111' }, encoding: { y: { field: 'name', type: 'nominal', sort: order }, x: { field: 'rps_min', type: 'quantitative' }, x2: { field: 'rps_max' } } },
            { mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 }, encoding: { y: { field: 'name', type: 'nominal', sort: order }, x: { field: 'rps_max', type: 'quantitative' }, text: { field: 'rps', type: 'quantitative' } } },
          ],
        },
      }),
    );
    const cpu = result.saturation.filter((r) => r.cpu_us_per_call !== null);
    if (cpu.length) {
      out.push(
        await write(dir, `${stem}-cpu.svg`, {
          title: { text: 'CPU time per call of the processes under test', subtitle: label },
          data: { values: cpu.map((r) => ({ ...r, conn: `${r.connections} conn` })) },
          width: 460,
          height: { step: 12 },
          mark: { type: 'bar', tooltip: true },
          encoding: {
            y: { field: 'name', type: 'nominal', sort: order, title: null },
            yOffset: { field: 'conn' },
            x: { field: 'cpu_us_per_call', type: 'quantitative', title: 'µs of CPU per call (user + system)' },
            color: { field: 'conn', type: 'nominal', title: null, scale: { range: ['#94a3b8', '#c2410c'] } },
          },
        }),
      );
    }
  }
  if (result.fixed_rate.length) {
    const pct = [['p50_ms', 'p50'], ['p90_ms', 'p90'], ['p99_ms', 'p99'], ['p999_ms', 'p99.9'], ['max_ms', 'max']];
    const values = result.fixed_rate.flatMap((r) => pct.map(([k, p], i) => ({ name: r.name, rate: `${r.rate} req/s`, rateN: r.rate, percentile: p, order: i, ms: Math.max(0.1, r[k]) })));
    out.push(
      await write(dir, `${stem}-latency.svg`, {
        title: { text: 'Latency percentiles at fixed offered rates (25/50/75% of the slowest capacity)', subtitle: label },
        data: { values },
        facet: { column: { field: 'rate', type: 'ordinal', title: null, sort: { field: 'rateN' } } },
        spec: {
          width: 260,
          height: 260,
          mark: { type: 'line', point: true, tooltip: true },
          encoding: {
            x: { field: 'percentile', type: 'ordinal', sort: pct.map(([, p]) => p), title: 'percentile' },
            y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'latency (ms, log scale)' },
            color: { field: 'name', type: 'nominal', sort: order, title: null, legend: { orient: 'bottom', columns: 1, labelLimit: 400 } },
          },
        },
      }),
    );
  }
  return out;
}

async function write(dir, file, spec) {
  writeFileSync(join(dir, file), await svg(spec));
  return file;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href && process.argv[2]) {
  const file = process.argv[2];
  const written = await renderCharts(JSON.parse(readFileSync(file, 'utf8')), dirname(file), basename(file, '.json'));
  console.log(written.join('\n'));
}
