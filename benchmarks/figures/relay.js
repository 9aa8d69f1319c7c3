/* global URL */
/**
 * relay: `socklab relay` against socat, from benchmarks/relay.js (npm run bench:relay), which alternates
 * its own variants round by round; its JSON's ratios go into the table.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/proc.js';
import { NODE } from '../lib/roles.js';
import { fmtRatio, meets, units } from '../lib/stats.js';

const RELAY_BENCH = fileURLToPath(new URL('../relay.js', import.meta.url));
const CPU = '0';

/** One of relay.js's variants as a slot of the report (values in bit/s or echoes/s). */
function slot(label, unit, values, commands) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    key: label,
    label,
    unit,
    samples: values.map((value, i) => ({ round: i + 1, value })),
    values,
    median: n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    commands,
  };
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
    const args = [RELAY_BENCH, '--only', 'tcp,udp', '--rounds', String(ctx.rounds)];
    if (ctx.quick) args.push('--tcp-mib', '32', '--datagrams', '10000');
    args.push('--json', json);
    ctx.log(`[relay] node benchmarks/relay.js ${args.slice(1).join(' ')}`);
    const r = await run(NODE, args, { cpu: CPU, deadlineMs: 900_000 });
    const result = JSON.parse(readFileSync(json, 'utf8'));
    const tcp = result.tcp.summary;
    const udp = result.udp.summary;
    const mbps = (name) => tcp[name].runs.map((x) => x.total * 8e6);
    const steady = (name) => tcp[name].runs.map((x) => x.steady * 8e6);
    const echoes = (name) => udp[name].runs.map((x) => x.perSec);
    const commands = [r.commandLine];
    const v = {
      // benchmarks/relay.js runs every variant itself: its one command line stands for all of them.
      all: {
        ...slot('benchmarks/relay.js (all variants, alternated by relay.js)', 'count', [], commands),
        median: NaN,
      },
      tcpSocklab: slot('TCP: socklab relay', 'bitsPerSecond', mbps('socklab relay'), []),
      tcpSocat: slot('TCP: socat', 'bitsPerSecond', mbps('socat'), []),
      tcpDirect: slot('TCP: direct (no relay)', 'bitsPerSecond', mbps('direct'), []),
      steadyPlain: slot(
        'TCP first to last byte: socklab relay',
        'bitsPerSecond',
        steady('socklab relay'),
        [],
      ),
      steadyDelay: slot(
        'TCP first to last byte: socklab relay --delay 50ms',
        'bitsPerSecond',
        steady('socklab relay --delay 50ms'),
        [],
      ),
      udpSocklab: slot('UDP: socklab relay', 'perSecond', echoes('socklab relay'), []),
      udpSocat: slot('UDP: socat', 'perSecond', echoes('socat'), []),
      udpMinimal: slot('UDP: minimal Node dgram relay', 'perSecond', echoes('minimal Node dgram relay'), []),
    };
    const row = (label, socklab, peer, plain, r, goal) => ({
      label,
      socklab,
      peer,
      plain,
      ratio: r,
      ratioText: fmtRatio(r),
      goal: `>= ${goal.ratio}x ${goal.text}`,
      met: meets(r, { op: '>=', ratio: goal.ratio }),
    });
    const bps = units.bitsPerSecond;
    const rate = units.perSecond;
    return {
      variants: v,
      extra: { relayJson: result },
      rows: [
        row('relay tcp vs socat', bps(v.tcpSocklab.median), bps(v.tcpSocat.median), '-', result.tcp.vsSocat, {
          ratio: 0.9,
          text: 'socat',
        }),
        row(
          'relay udp vs socat',
          rate(v.udpSocklab.median),
          rate(v.udpSocat.median),
          rate(v.udpMinimal.median),
          result.udp.vsSocat,
          { ratio: 0.9, text: 'socat' },
        ),
        row(
          'relay --delay 50ms vs no delay',
          `${bps(v.steadyDelay.median)} (delayed)`,
          '-',
          '-',
          result.tcp.delayRatio,
          { ratio: 0.8, text: 'no delay' },
        ),
      ],
    };
  },
};
