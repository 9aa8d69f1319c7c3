/**
 * `renderReport(result)`: one self-contained HTML page. Chart.js (a runtime dependency) is read from
 * node_modules when the page is made and inlined, with the data, so the page opens with no network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LaneResult } from '../analyze.js';
import { detailOf, type CompareResult } from '../compare.js';
import { reportData } from './chart-data.js';
import { sequenceSvg } from './sequence-svg.js';
import { PAGE_SCRIPT } from './page-script.js';

let chartSource: string | undefined;

/** Chart.js's UMD build, as its package ships it. */
function chartJs(): string {
  if (chartSource === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    chartSource = readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8');
  }
  return chartSource;
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** Text that goes inside <script>: nothing in it may close the element. */
const inScript = (text: string) => text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

function table(result: CompareResult): string {
  const lanes = (['tcp', 'udp'] as const).filter((t) => result.lanes[t] !== undefined);
  const rows: [string, (l: LaneResult) => string][] = [
    ['status', (l) => l.status + (l.error !== undefined ? `: ${l.error}` : '')],
    ['sent', (l) => String(l.sent)],
    ['delivered', (l) => String(l.delivered)],
    ['late (held back)', (l) => String(l.late)],
    ['lost', (l) => String(l.lost)],
    ['duplicated', (l) => String(l.duplicated)],
    ['out of order', (l) => String(l.reordered)],
    ['corrupted', (l) => String(l.corrupted)],
    ['goodput', (l) => `${(l.goodput_bps / 1e6).toFixed(2)} Mbit/s`],
    [
      `latency p50 (${lanes[0] ? result.lanes[lanes[0]]!.latency_kind : ''})`,
      (l) => `${l.latency_ms.p50.toFixed(2)} ms`,
    ],
    ['latency p99', (l) => `${l.latency_ms.p99.toFixed(2)} ms`],
    ['latency max', (l) => `${l.latency_ms.max.toFixed(2)} ms`],
    [
      'retransmissions',
      (l) =>
        l.transport === 'tcp'
          ? l.retransmissions == null
            ? 'not known (relay)'
            : String(l.retransmissions)
          : '—',
    ],
  ];
  const head = `<tr><th></th>${lanes.map((t) => `<th class="${t}">${t.toUpperCase()}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      ([name, cell]) =>
        `<tr><td>${escapeHtml(name)}</td>${lanes.map((t) => `<td>${escapeHtml(cell(result.lanes[t]!))}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table class="figures">${head}\n${body}</table>`;
}

/**
 * Via the link: the TCP lane's packets around the first data segment the link dropped, or a line
 * saying that none was; via the relay there are no packets to show (nothing).
 */
function sequenceSection(result: CompareResult): string {
  if (result.via !== 'link' || result.lanes.tcp === undefined) return '';
  const sequence = detailOf(result)?.sequence;
  const title = '<h2>A lost segment and its retransmission, packet by packet (TCP)</h2>';
  if (sequence === undefined)
    return `<section class="chart sequence">${title}<p class="caption">The link dropped no TCP data segment in this run${result.sweep ? ' (the last of the sweep)' : ''}: nothing to show.</p></section>`;
  const caption = sequence.caption.charAt(0).toUpperCase() + sequence.caption.slice(1);
  const key = [
    ['#2a6fdb', 'data (sender → receiver)'],
    ['#8a9099', 'ACK (receiver → sender)'],
    ['#e03131', 'dropped by the link (X: where it died)'],
    ['#e0a100', 'duplicate ACK: still asking for the lost bytes'],
    ['#2f9e44', 'retransmission'],
  ]
    .map(([color, text]) => `<span><i style="background:${color}"></i>${escapeHtml(text!)}</span>`)
    .join(' ');
  return `<section class="chart sequence">${title}
<p class="caption"><b>${escapeHtml(caption)}</b> Each arrow is one packet of the TCP lane, from when it entered the link to when it left it at the other end (time goes down; the slope is the link's delay). What the link saw, recorded in memory${result.sweep ? ' in the last run of the sweep' : ''}: ${sequence.packets.length} packets around the first data segment it dropped.</p>
<p class="key">${key}</p>
${sequenceSvg(sequence)}
</section>`;
}

function workloadText(result: CompareResult): string {
  const w = result.workload;
  const n = (x: unknown) => Number(x).toLocaleString('en-US');
  if (w.kind === 'bulk')
    return `a bulk transfer of ${n(w.bytes)} bytes in messages of ${n(w.size_bytes)} bytes`;
  if (w.kind === 'request')
    return `${n(w.requests)} requests of ${n(w.size_bytes)} bytes, each waiting for its answer`;
  return `${n(w.messages)} messages of ${n(w.size_bytes)} bytes, one every ${w.interval_ms} ms`;
}

export function renderReport(result: CompareResult): string {
  const data = reportData(result);
  const faults = [...new Set([...result.faults.tcp, ...result.faults.udp])];
  const charts = [
    [
      'latency',
      'Latency of each message, in the order they were sent',
      'Each dot is one message: when it was sent (across) and how long it took (up). Red crosses are messages that never arrived. On TCP, a message that waits behind a slower one shows as a ramp: the ones sent after it pile up and arrive together.',
    ],
    [
      'strip',
      'What happened to each message',
      'One row per protocol, messages left to right in the order they were sent (a cell may hold several; it shows the worst). Green: on time. Amber: late, held back behind an earlier message. Red: lost. Purple: delivered twice. Teal: out of order. Black: corrupted.',
    ],
    [
      'order',
      'Send order against arrival order',
      'For each message, how many places away from its turn it arrived. 0: in the order sent. Above 0: messages sent after it arrived first (it was overtaken); below 0: it overtook messages sent before it. TCP stays on 0: a stream hands bytes over in order, whatever happened on the way.',
    ],
    [
      'histogram',
      'How long messages took',
      'How many messages took each latency: a tall narrow peak is steady; a long tail to the right is what a game or a call feels.',
    ],
  ];
  if (data.sweep)
    charts.push([
      'sweep',
      `The trade-off as --${data.sweep.fault} grows`,
      'Each point is one run with that value: how much each protocol delivered, and how long TCP made messages wait.',
    ]);
  const chartHtml = charts
    .map(
      ([id, title, caption]) =>
        `<section class="chart"><h2>${escapeHtml(title!)}</h2><p class="caption">${escapeHtml(caption!)}</p><div class="canvas ${id}"><canvas id="chart-${id}"></canvas></div></section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>socklab compare: TCP and UDP through the same faults</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1.5em; color: #1d232b; background: #fbfbfa; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.1em; margin: 0 0 .2em; }
.setup { color: #555; margin-top: 0; }
.reading { background: #fff; border-left: 4px solid #2a6fdb; padding: .6em 1em; margin: 1em 0; }
.reading li { margin: .3em 0; }
.note { background: #fff8e6; border-left: 4px solid #e0a100; padding: .6em 1em; font-size: .92em; }
table.figures { border-collapse: collapse; margin: 1em 0; background: #fff; }
table.figures td, table.figures th { padding: .25em .9em; border-bottom: 1px solid #e5e5e5; text-align: right; }
table.figures td:first-child { text-align: left; color: #444; }
th.tcp { color: #2a6fdb; } th.udp { color: #e8590c; }
.chart { background: #fff; border: 1px solid #e5e5e5; border-radius: 6px; padding: .8em 1em; margin: 1em 0; }
.caption { color: #555; font-size: .9em; margin: 0 0 .5em; }
.canvas { position: relative; height: 300px; } .canvas.strip { height: 140px; }
.key span { margin-right: 1.2em; font-size: .85em; color: #444; white-space: nowrap; }
.key i { display: inline-block; width: 18px; height: 4px; margin: 0 .4em .2em 0; vertical-align: middle; }
footer { color: #777; font-size: .85em; margin-top: 2em; }
</style>
</head>
<body>
<h1>TCP and UDP, the same messages through the same faults</h1>
<p class="setup">${escapeHtml(workloadText(result))}, sent over TCP and over UDP at the same time.
Faults${result.sweep ? ` (the last run of the sweep)` : ''}: <b>${escapeHtml(faults.length > 0 ? faults.join(', ') : 'none')}</b>,
applied by socklab's ${escapeHtml(result.via)}; seed ${result.seed}.</p>
<section class="reading"><h2>What happened</h2><ul>
${result.reading.map((line) => `<li>${escapeHtml(line)}</li>`).join('\n')}
</ul></section>
${table(result)}
${result.notes.map((note) => `<p class="note">${escapeHtml(note.charAt(0).toUpperCase() + note.slice(1))}</p>`).join('\n')}
${chartHtml}
${sequenceSection(result)}
<footer>Made by <code>socklab compare</code> on ${escapeHtml(result.started_at)}, in ${(result.duration_ms / 1000).toFixed(1)} s. Charts drawn by Chart.js, inlined: this page needs no network.</footer>
<script type="application/json" id="socklab-data">${inScript(JSON.stringify(data))}</script>
<script>${inScript(chartJs())}</script>
<script>${inScript(PAGE_SCRIPT)}</script>
</body>
</html>
`;
}
