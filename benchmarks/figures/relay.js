/* global URL */
/**
 * relay: `socklab relay` against socat, from benchmarks/relay.js (npm run bench:relay), which alternates
 * its own variants round by round; its JSON's ratios go into the table. relay.js gets as long as its
 * plan allows (lib/relay-plan.js, from the rounds and sizes asked); a variant it reports failed (a
 * peer that stopped answering, ...) shows its error in its rows, and the other rows stand.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/proc.js';
import { relayBenchMs, seconds } from '../lib/relay-plan.js';
import { NODE } from '../lib/roles.js';
import { cell, oneLine } from '../lib/rounds.js';
import { fmtRatio, meets, units } from '../lib/stats.js';

const RELAY_BENCH = fileURLToPath(new URL('../relay.js', import.meta.url));
const CPU = '0';

/** One of relay.js's variants as a slot of the report (values in bit/s or echoes/s). */
function slot(label, unit, values, commands, error) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    key: label,
    label,
    unit,
    samples: values.map((value, i) => ({ round: i + 1, value })),
    values,
    median: n === 0 ? NaN : n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    commands,
    ...(error ? { error } : {}),
  };
}

/**
 * A variant of one of relay.js's sections: its rounds (pick: the number taken from each) and, if it
 * failed, why (its own error, or its section's, or that relay.js did not report it).
 */
function variantSlot(section, name, label, unit, pick) {
  const v = section?.summary?.[name];
  const error = section?.error ?? v?.error ?? (v ? undefined : 'not measured by relay.js');
  return slot(label, unit, (v?.runs ?? []).map(pick), [], error);
}

export default {
  name: 'relay',
  order: 90,
  title: 'socklab relay against socat: TCP throughput, UDP echo rate, and the cost of a 50 ms delay',
  method: (ctx) =>
    `\`taskset -c ${CPU} node benchmarks/relay.js --only tcp,udp --rounds ${ctx.rounds}` +
    `${ctx.quick ? ' --tcp-mib 32 --datagrams 10000' : ''} --json FILE\` (its header says what it runs: ` +
    `sender -> relay -> sink for TCP, ${ctx.quick ? '32' : '512'} MiB per run, bytes/s end to end; a client ` +
    `keeping 32 64-byte datagrams in flight through the relay to an echo server for UDP, ` +
    `${ctx.quick ? '10,000' : '200,000'} per run; socat \`TCP-LISTEN:...,fork TCP:...\` and ` +
    `\`UDP4-LISTEN:...,fork UDP4:...\` as the peers; all on CPU ${CPU}). The TCP rows use relay.js's medians ` +
    `(end to end); the delay row compares \`socklab relay --delay 50ms\` with no fault, first to last ` +
    `byte at the sink (the 50 ms themselves left out). UDP's "plain Node" is relay.js's minimal node:dgram ` +
    `relay. Its 1 GiB SHA-256 check is not run here (npm run bench:relay does).`,
  async run(ctx) {
    const json = path.join(ctx.tmpdir, 'relay.json');
    // Full runs use relay.js's defaults (512 MiB, 200,000 datagrams); the deadline below needs them.
    const sizes = ctx.quick ? { tcpMib: 32, datagrams: 10_000 } : { tcpMib: 512, datagrams: 200_000 };
    const args = [RELAY_BENCH, '--only', 'tcp,udp', '--rounds', String(ctx.rounds)];
    if (ctx.quick) args.push('--tcp-mib', String(sizes.tcpMib), '--datagrams', String(sizes.datagrams));
    args.push('--json', json);
    // As long as relay.js's own plan allows for these rounds and sizes (its runs and servers fit in it).
    const deadlineMs = relayBenchMs(['tcp', 'udp'], { rounds: ctx.rounds, gibMib: 0, ...sizes });
    ctx.log(`[relay] node benchmarks/relay.js ${args.slice(1).join(' ')} (at most ${seconds(deadlineMs)})`);
    // relay.js exits 1 when a variant failed, and still writes its JSON: the other rows stand.
    const r = await run(NODE, args, { cpu: CPU, deadlineMs, allowFailure: true });
    let result;
    try {
      result = JSON.parse(readFileSync(json, 'utf8'));
    } catch {
      const how = r.timedOut
        ? `did not finish within ${seconds(deadlineMs)}`
        : `failed (${r.code ?? r.signal})`;
      const last = r.stderr.trim().split('\n').at(-1) ?? '';
      throw new Error(`benchmarks/relay.js ${how} and wrote no results${last ? `: ${oneLine(last)}` : ''}`);
    }
    const commands = [r.commandLine];
    const bits = (pick) => (x) => pick(x) * 8e6; // relay.js's TCP figures are in MB/s
    const tcpSlot = (name, label, pick) => variantSlot(result.tcp, name, label, 'bitsPerSecond', bits(pick));
    const udpSlot = (name, label) => variantSlot(result.udp, name, label, 'perSecond', (x) => x.perSec);
    const v = {
      // benchmarks/relay.js runs every variant itself: its one command line stands for all of them.
      all: {
        ...slot('benchmarks/relay.js (all variants, alternated by relay.js)', 'count', [], commands),
        median: NaN,
      },
      tcpSocklab: tcpSlot('socklab relay', 'TCP: socklab relay', (x) => x.total),
      tcpSocat: tcpSlot('socat', 'TCP: socat', (x) => x.total),
      tcpDirect: tcpSlot('direct', 'TCP: direct (no relay)', (x) => x.total),
      steadyPlain: tcpSlot('socklab relay', 'TCP first to last byte: socklab relay', (x) => x.steady),
      steadyDelay: tcpSlot(
        'socklab relay --delay 50ms',
        'TCP first to last byte: socklab relay --delay 50ms',
        (x) => x.steady,
      ),
      udpSocklab: udpSlot('socklab relay', 'UDP: socklab relay'),
      udpSocat: udpSlot('socat', 'UDP: socat'),
      udpMinimal: udpSlot('minimal Node dgram relay', 'UDP: minimal Node dgram relay'),
    };
    for (const s of Object.values(v)) if (s.error) ctx.log(`[relay] ${s.label}: error: ${s.error}`);
    /** A row compares num with den; it is an error row if either failed (plain is shown only). */
    const row = (label, format, { num, den, plain, shownDen = true, suffix = '' }, r, goal) => {
      const broken = [num, den].find((s) => s.error);
      return {
        label,
        socklab: `${cell(num, format)}${num.error ? '' : suffix}`,
        peer: shownDen ? cell(den, format) : '-',
        plain: plain ? cell(plain, format) : '-',
        ratio: broken ? NaN : (r ?? NaN),
        ratioText: fmtRatio(broken ? NaN : (r ?? NaN)),
        goal: `>= ${goal.ratio}x ${goal.text}`,
        met: broken ? undefined : meets(r ?? NaN, { op: '>=', ratio: goal.ratio }),
        ...(broken ? { error: `${broken.label}: ${broken.error}` } : {}),
      };
    };
    const bps = units.bitsPerSecond;
    const rate = units.perSecond;
    return {
      variants: v,
      extra: { relayJson: result },
      rows: [
        row('relay tcp vs socat', bps, { num: v.tcpSocklab, den: v.tcpSocat }, result.tcp?.vsSocat, {
          ratio: 0.9,
          text: 'socat',
        }),
        row(
          'relay udp vs socat',
          rate,
          { num: v.udpSocklab, den: v.udpSocat, plain: v.udpMinimal },
          result.udp?.vsSocat,
          { ratio: 0.9, text: 'socat' },
        ),
        row(
          'relay --delay 50ms vs no delay',
          bps,
          { num: v.steadyDelay, den: v.steadyPlain, shownDen: false, suffix: ' (delayed)' },
          result.tcp?.delayRatio,
          { ratio: 0.8, text: 'no delay' },
        ),
      ],
    };
  },
};
