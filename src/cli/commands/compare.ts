/** `socklab compare [faults] [workload]`: the same messages over TCP and UDP through the same faults. */
import { writeFile } from 'node:fs/promises';
import type { Transport } from '../../address.js';
import { describeSystemError, SocklabError } from '../../errors.js';
import type { FaultSpec } from '../../impair/fault.js';
import { FAULT_FLAGS, FLAG_OWNER } from '../fault-flags.js';
import { formatBitsPerSec, parseCount, parseDuration, parseSize } from '../../measure/units.js';
import { type LaneResult } from '../../compare/analyze.js';
import {
  checkWorkload,
  compare,
  detailOf,
  type CompareOptions,
  type CompareProgress,
  type CompareResult,
  type SweepPoint,
  type Via,
} from '../../compare/compare.js';
import type { Workload } from '../../compare/protocol.js';
import { renderReport } from '../../compare/report/render.js';
import { faultsFromFlags } from './relay.js';
import { LINK_FAULT_TYPES } from '../../link/link.js';
import { parseCommandLine, usageError, type Token } from '../args.js';
import type { Io } from '../io.js';

/** The relay's words that mean something between two ends of one lane. */
const LANE_FAULTS = [
  'delay',
  'rate',
  'loss',
  'duplicate',
  'reorder',
  'corrupt',
  'drop',
  'slice',
  'reset-after',
  'stall',
];

function flagLine(flag: string, value: string, summary: string): string {
  const left = `      --${flag} ${value}`;
  return left.length < 32 ? `${left.padEnd(32)}${summary}` : `${left}\n${''.padEnd(32)}${summary}`;
}

const FAULT_HELP = FAULT_FLAGS.filter(({ type }) => LANE_FAULTS.includes(type.type))
  .map(({ type, flag }) =>
    flagLine(
      flag.flag,
      flag.value,
      `${flag.summary}${LINK_FAULT_TYPES.includes(type.type as never) ? (type.transports.length === 1 ? ' [via the relay: UDP lane only]' : '') : ' [relay only: a stream fault]'}`,
    ),
  )
  .join('\n');

export const help = `Usage: socklab compare [faults] [workload] [--html FILE] [--json]

Send the same messages over TCP and over UDP, at the same time, through the same faults, and give
each message a verdict: on time, late (held back behind an earlier one: TCP's head-of-line
blocking), lost, duplicated, out of order, corrupted. Each message carries its sequence number,
its send time and its own CRC-32, so the receiver tells which is which and its one-way latency
(both ends on this machine, one clock).

Where the faults are applied (--via):
  relay   socklab's relay on 127.0.0.1, in this process (no privileges). TCP's stream is only
          delayed there, never lossy: loss, duplicate, reorder and corrupt reach the UDP lane only
          (the report says so and why); delay, jitter and rate reach both.
  link    socklab link, one per lane: the sender in a network namespace, every IP packet through
          the faults, so the kernel's own TCP meets real loss and resends (retransmissions from
          the kernel's counters). Needs root (CAP_NET_ADMIN) and /dev/net/tun.
  auto    the link where it can run and every fault is a packet fault, else the relay, with a
          note saying why (default).

Workload (one of; default --messages 1000 --size 200 --interval 5ms):
      --messages N              paced messages (a game or voice stream), with:
      --interval DURATION       time between two messages (default 5ms; 0: as fast as it goes)
      --bytes SIZE              a bulk transfer of SIZE: goodput and completion time
      --requests N              request/response, one at a time: round-trip latency
      --size SIZE               bytes per message, header included (24 to 65507; default 200)

Faults (the relay's words; any one of them may be a list, a sweep: --loss 0,1%,2%,5%):
${FAULT_HELP}
      --up, --down, --both      the direction of the faults after it: up is sender → receiver,
                                down the replies (default both)
Other options:
      --seed N                  seed of every random choice (default: random, printed): the same
                                seed drops, duplicates and reorders the same messages
      --deadline DURATION       each run ends by then, what came counted (default: from the
                                workload, 30 s at least)
      --html FILE               write a report: one page with its charts inlined, no network
      --json                    print the result as JSON (keys below) instead of the table
      --agents local|child      where each lane's two ends run: in this process (default) or in
                                child processes, as they do inside a link
  -h, --help                    this help

JSON keys (stable): via, seed, workload, faults.tcp/udp, lanes.tcp and lanes.udp each with status
(ok, failed, deadline, stopped), error, sent, delivered, late, lost, duplicated, reordered, corrupted,
goodput_bps, duration_ms, latency_kind, latency_ms.p50/p99/max/min, late_by_ms_max, path (the
relay's or link's counters, sender → receiver; the link adds dropped_back) and for TCP
retransmissions (the kernel's, via the link; null via the relay); a sweep adds
sweep.fault and sweep.points[] = {value, lanes}; notes[], reading[].
Via the link, --html adds a sequence diagram of the TCP lane's packets around the first data
segment the link dropped, and its retransmission (not in the JSON).

Examples:
  socklab compare --loss 2% --delay 20ms --jitter 5ms --messages 2000 --interval 5ms --html report.html
  socklab compare --delay 10ms --jitter 8ms --reorder 25%      TCP late, UDP out of order
  socklab compare --loss 0,1%,2%,5%,10% --delay 10ms --json    a sweep: the trade-off as curves
  socklab compare --bytes 20mb --size 1400 --rate 50mbit       bulk: goodput and completion time
  socklab compare --requests 500 --delay 5ms --loss 3%         round trips; UDP's answers go missing

Exit status: 0 both lanes ran · 1 a lane failed or hit its deadline (the other's results are still
printed), or the path cannot run · 2 bad usage (0 messages, --size over 65507, a list on a flag that
is not a fault).
`;

const OPTIONS = {
  messages: { type: 'string' },
  interval: { type: 'string' },
  bytes: { type: 'string' },
  requests: { type: 'string' },
  size: { type: 'string' },
  seed: { type: 'string' },
  deadline: { type: 'string' },
  via: { type: 'string' },
  html: { type: 'string' },
  json: { type: 'boolean' },
  agents: { type: 'string' },
  up: { type: 'boolean' },
  down: { type: 'boolean' },
  both: { type: 'boolean' },
  ...Object.fromEntries(FAULT_FLAGS.map(({ flag }) => [flag.flag, { type: 'string' as const }])),
} as const;

export interface CompareCommandOptions extends CompareOptions {
  readonly html?: string;
  readonly json: boolean;
}

/** The fault flags of one lane: those its transport takes; a direction flag kept if a kept fault follows. */
function laneTokens(tokens: readonly Token[], transport: Transport): Token[] {
  const kept: Token[] = [];
  let direction: Token | undefined;
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (token.name === 'up' || token.name === 'down' || token.name === 'both') {
      direction = token;
      continue;
    }
    const owner = FLAG_OWNER.get(token.name)?.type;
    if (owner === undefined || !owner.transports.includes(transport)) continue;
    if (direction !== undefined) {
      kept.push(direction);
      direction = undefined;
    }
    kept.push(token);
  }
  return kept;
}

/** The faults of both lanes, each lane's flags read by the relay's own parser. */
function faultsOf(tokens: readonly Token[]): FaultSpec[] {
  const all: FaultSpec[] = [];
  const seen = new Set<string>();
  for (const transport of ['tcp', 'udp'] as const) {
    for (const spec of faultsFromFlags(laneTokens(tokens, transport), transport)) {
      const key = JSON.stringify(spec);
      if (!seen.has(key)) all.push(spec);
      seen.add(key);
    }
  }
  return all;
}

function workloadOf(str: (name: string) => string | undefined): Workload {
  const sizeText = str('size');
  const sizeBytes = sizeText === undefined ? 200 : parseSize('--size', sizeText);
  const given = (['messages', 'bytes', 'requests'] as const).filter((k) => str(k) !== undefined);
  if (given.length > 1) throw usageError(`--${given[0]} and --${given[1]}: give one workload`);
  const intervalText = str('interval');
  if (intervalText !== undefined && given[0] !== undefined && given[0] !== 'messages')
    throw usageError(`--interval paces --messages; it means nothing with --${given[0]}`);
  let workload: Workload;
  if (given[0] === 'bytes') {
    workload = { kind: 'bulk', bytes: parseSize('--bytes', str('bytes')!), sizeBytes };
  } else if (given[0] === 'requests') {
    workload = { kind: 'request', requests: parseCount('--requests', str('requests')!), sizeBytes };
  } else {
    const messages = str('messages');
    workload = {
      kind: 'paced',
      messages: messages === undefined ? 1000 : parseCount('--messages', messages),
      sizeBytes,
      intervalMs: intervalText === undefined ? 5 : parseDuration('--interval', intervalText),
    };
  }
  checkWorkload(workload);
  return workload;
}

export function parse(argv: readonly string[]): CompareCommandOptions {
  const { values: v, positionals, tokens } = parseCommandLine(argv, OPTIONS);
  const values: Record<string, string | boolean | undefined> = v;
  const str = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  if (positionals.length > 0)
    throw usageError(`takes no addresses (got '${positionals[0]}'): it runs on 127.0.0.1`);
  // A list is a sweep; only a fault may be one, and only one fault.
  const lists = tokens.filter(
    (t): t is Extract<Token, { kind: 'option' }> =>
      t.kind === 'option' && FLAG_OWNER.get(t.name)?.flag.list !== true && (t.value ?? '').includes(','),
  );
  for (const t of lists) {
    if (!FLAG_OWNER.has(t.name))
      throw usageError(
        `--${t.name} ${t.value}: only a fault can be swept (given as a list), not --${t.name}`,
      );
  }
  if (lists.length > 1)
    throw usageError(`--${lists[0]!.name} and --${lists[1]!.name}: sweep one fault at a time`);
  const workload = workloadOf(str);
  const viaText = str('via') ?? 'auto';
  if (!['relay', 'link', 'auto'].includes(viaText))
    throw usageError(`--via ${viaText}: expected link, relay or auto`);
  const agentsText = str('agents') ?? 'local';
  if (agentsText !== 'local' && agentsText !== 'child')
    throw usageError(`--agents ${agentsText}: expected local or child`);
  const seedText = str('seed');
  const deadlineText = str('deadline');
  const deadlineMs = deadlineText === undefined ? undefined : parseDuration('--deadline', deadlineText);
  if (deadlineMs === 0) throw usageError('--deadline must be more than 0');
  let faults: FaultSpec[] | undefined;
  let sweep: CompareOptions['sweep'];
  const swept = lists[0];
  if (swept === undefined) faults = faultsOf(tokens);
  else {
    const values = swept.value!.split(',').map((x) => x.trim());
    if (values.some((x) => x === ''))
      throw usageError(`--${swept.name} ${swept.value}: an empty value in the list`);
    const points: SweepPoint[] = values.map((value) => ({
      value,
      faults: faultsOf(tokens.map((t): Token => (t === swept ? { ...swept, value, inlineValue: true } : t))),
    }));
    sweep = { fault: swept.name, points };
  }
  const html = str('html');
  return {
    workload,
    ...(faults !== undefined ? { faults } : {}),
    ...(sweep !== undefined ? { sweep } : {}),
    ...(seedText !== undefined ? { seed: parseCount('--seed', seedText, 0, 0xffffffff) } : {}),
    via: viaText as Via,
    agents: agentsText,
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    ...(html !== undefined ? { html } : {}),
    json: v.json === true,
  };
}

function describeWorkload(result: CompareResult): string {
  const w = result.workload;
  const n = (x: number | string | undefined) => Number(x ?? 0).toLocaleString('en-US');
  if (w.kind === 'bulk') return `${n(w.bytes)} bytes in messages of ${n(w.size_bytes)} bytes`;
  if (w.kind === 'request') return `${n(w.requests)} requests of ${n(w.size_bytes)} bytes, one at a time`;
  return `${n(w.messages)} messages of ${n(w.size_bytes)} bytes every ${w.interval_ms} ms`;
}

const ROWS: [string, (l: LaneResult) => string][] = [
  ['status', (l) => l.status],
  ['sent', (l) => String(l.sent)],
  ['delivered', (l) => String(l.delivered)],
  ['late', (l) => String(l.late)],
  ['lost', (l) => String(l.lost)],
  ['duplicated', (l) => String(l.duplicated)],
  ['reordered', (l) => String(l.reordered)],
  ['corrupted', (l) => String(l.corrupted)],
  ['goodput', (l) => formatBitsPerSec(l.goodput_bps)],
  ['latency p50', (l) => `${l.latency_ms.p50.toFixed(2)} ms`],
  ['latency p99', (l) => `${l.latency_ms.p99.toFixed(2)} ms`],
  ['latency max', (l) => `${l.latency_ms.max.toFixed(2)} ms`],
  [
    'retransmissions',
    (l) =>
      l.transport === 'tcp' ? (l.retransmissions == null ? 'n/a (relay)' : String(l.retransmissions)) : '-',
  ],
];

function laneTable(lanes: CompareResult['lanes']): string {
  const cols = (['tcp', 'udp'] as const).filter((t) => lanes[t] !== undefined);
  const lines = [`${''.padEnd(17)}${cols.map((c) => c.toUpperCase().padStart(16)).join('')}`];
  for (const [name, cell] of ROWS)
    lines.push(`${name.padEnd(17)}${cols.map((c) => cell(lanes[c]!).padStart(16)).join('')}`);
  return lines.join('\n');
}

function sweepTable(result: CompareResult): string {
  const sweep = result.sweep!;
  const head = `${`--${sweep.fault}`.padEnd(10)}${'TCP delivered'.padStart(14)}${'late'.padStart(7)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'UDP delivered'.padStart(15)}${'lost'.padStart(7)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`;
  const rows = sweep.points.map((p) => {
    const t = p.lanes.tcp;
    const u = p.lanes.udp;
    const cell = (l: LaneResult | undefined, f: (l: LaneResult) => string, w: number) =>
      (l ? f(l) : '-').padStart(w);
    return (
      p.value.padEnd(10) +
      cell(t, (l) => `${l.delivered}/${l.sent}`, 14) +
      cell(t, (l) => String(l.late), 7) +
      cell(t, (l) => l.latency_ms.p50.toFixed(1), 9) +
      cell(t, (l) => l.latency_ms.p99.toFixed(1), 9) +
      cell(u, (l) => `${l.delivered}/${l.sent}`, 15) +
      cell(u, (l) => String(l.lost), 7) +
      cell(u, (l) => l.latency_ms.p50.toFixed(1), 9) +
      cell(u, (l) => l.latency_ms.p99.toFixed(1), 9)
    );
  });
  return [head, ...rows].join('\n');
}

/** The terminal's view of a result. */
export function formatResult(result: CompareResult): string {
  const faults = [...new Set([...result.faults.tcp, ...result.faults.udp])];
  const out = [
    `socklab compare via ${result.via}, seed ${result.seed}: ${describeWorkload(result)}`,
    `faults${result.sweep ? ` (last value of the sweep)` : ''}: ${faults.length > 0 ? faults.join(', ') : 'none'}`,
    '',
  ];
  if (result.sweep)
    out.push(
      sweepTable(result),
      '',
      `in detail, --${result.sweep.fault} ${result.sweep.points.at(-1)?.value ?? ''}:`,
    );
  out.push(laneTable(result.lanes), '');
  for (const lane of [result.lanes.tcp, result.lanes.udp])
    if (lane?.error !== undefined)
      out.push(`${lane.transport.toUpperCase()} lane ${lane.status}: ${lane.error}`);
  out.push(...result.reading.map((line) => `  ${line}`));
  const sequence = detailOf(result)?.sequence;
  if (sequence !== undefined) out.push(`  Packet by packet (TCP, the link's log): ${sequence.caption}`);
  out.push('', ...result.notes.map((note) => `note: ${note}`));
  return `${out.join('\n')}\n`;
}

function progressLine(state: Map<string, CompareProgress>): string {
  const parts = [...state.values()].map(
    (p) => `${p.lane.toUpperCase()} ${Math.max(p.sent, p.received)}/${p.count} sent, ${p.received} received`,
  );
  const point = [...state.values()][0]?.point;
  return `compare${point !== undefined ? ` (${point})` : ''}: ${parts.join(' · ')}`;
}

export async function run(options: CompareCommandOptions, io: Io): Promise<number> {
  const state = new Map<string, CompareProgress>();
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let lastDraw = 0;
  let lastPoint: string | undefined;
  const onProgress = (p: CompareProgress) => {
    state.set(p.lane, p);
    if (tty) {
      const now = Date.now();
      if (now - lastDraw < 150) return;
      lastDraw = now;
      io.stderr.write(`\r\x1b[K${progressLine(state)}`);
    } else if (p.point !== undefined && p.point !== lastPoint) {
      lastPoint = p.point;
      io.stderr.write(`compare: --${options.sweep?.fault ?? ''} ${p.point}\n`);
    }
  };
  let result: CompareResult;
  try {
    result = await compare({ ...options, signal: io.signal, onProgress });
  } finally {
    if (tty) io.stderr.write('\r\x1b[K');
  }
  if (options.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout.write(formatResult(result));
  if (options.html !== undefined) {
    try {
      await writeFile(options.html, renderReport(result));
    } catch (err) {
      throw new SocklabError(
        'SOCKLAB_ERR_FILE',
        `cannot write the report to ${options.html}: ${describeSystemError(err)}`,
        {
          cause: err,
        },
      );
    }
    io.stderr.write(`report: ${options.html} (open it in a browser; it needs no network)\n`);
  }
  const lanes = [result.lanes.tcp, result.lanes.udp].filter((l): l is LaneResult => l !== undefined);
  const points = result.sweep?.points.flatMap((p) => [p.lanes.tcp, p.lanes.udp]) ?? [];
  const bad = [...lanes, ...points].some((l) => l !== undefined && l.status !== 'ok');
  if (io.signal.aborted) return 130;
  return bad ? 1 : 0;
}
