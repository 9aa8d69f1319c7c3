/**
 * pingpong-client: socklab's ping-pong client (`socklab bench --pingpong --sockperf`) against
 * sockperf's (`sockperf pp`), both against sockperf's own server (`sockperf sr`): round trips/s and
 * p50/p99 round-trip time, 64-byte messages, one in flight. `--sockperf` puts sockperf's header in
 * socklab's messages, which is all sockperf's server needs to answer them; the plain Node client
 * does the same.
 */
import { start } from '../lib/proc.js';
import { fixedPort, plainPeer, socklabPingpong } from '../lib/roles.js';
import { alternate, cell } from '../lib/rounds.js';
import { fmtRatio, median, meets, ratio, units } from '../lib/stats.js';

const CPU = '0';
const PORTS = { tcp: { sockperf: 61602 }, udp: { sockperf: 61604 } };
const GOAL = { op: '>=', ratio: 0.85, text: '>= 0.85x sockperf' };

function sockperfServer(transport) {
  const port = PORTS[transport].sockperf;
  const tcp = transport === 'tcp' ? ['--tcp'] : [];
  return fixedPort('sockperf', ['sr', ...tcp, '-i', '127.0.0.1', '-p', String(port)], port, transport, {
    cpu: CPU,
  });
}

/** `sockperf pp`: round trips/s over its valid duration; its percentiles are RTT/2, doubled here. */
async function sockperfClient(transport, seconds) {
  const port = PORTS[transport].sockperf;
  const tcp = transport === 'tcp' ? ['--tcp'] : [];
  const client = start(
    'sockperf',
    ['pp', ...tcp, '-i', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-m', '64'],
    { cpu: CPU, deadlineMs: seconds * 1000 + 15_000 },
  );
  const r = await client.exited;
  const text = r.stdout + r.stderr;
  const valid = /\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(
    text,
  );
  if (!valid) throw new Error(`sockperf pp printed no valid duration${client.lastWords()}`);
  const pct = (p) => 2 * Number(new RegExp(`percentile ${p}\\.000 =\\s+([\\d.]+)`).exec(text)?.[1]);
  return {
    value: Number(valid[3]) / Number(valid[1]),
    roundTrips: Number(valid[3]),
    seconds: Number(valid[1]),
    p50_us: pct(50),
    p99_us: pct(99),
    command: client.commandLine,
  };
}

async function plainClient(transport, port, seconds) {
  const client = plainPeer('pingpong-client', [transport, String(port), String(seconds)], {
    cpu: CPU,
    deadlineMs: seconds * 1000 + 15_000,
  });
  const r = await client.exited;
  if (r.code !== 0) throw new Error(`pingpong-client failed (${r.code ?? r.signal})${client.lastWords()}`);
  const j = JSON.parse(r.stdout);
  return {
    value: j.perSecond,
    roundTrips: j.roundTrips,
    p50_us: j.p50_us,
    p99_us: j.p99_us,
    command: client.commandLine,
  };
}

/** Start a server, run a client against it, stop the server. */
async function round(startServer, runClient) {
  const server = await startServer();
  try {
    const { command, ...sample } = await runClient();
    return { ...sample, commands: [server.commandLine, command] };
  } finally {
    await server.stop();
  }
}

export default {
  name: 'pingpong-client',
  order: 60,
  title: 'Ping-pong client: round trips/s and round-trip time, 64-byte messages (client and server on CPU 0)',
  method: (ctx) =>
    `Clients and server all under \`taskset -c ${CPU}\` (see echo-server for why one CPU). ` +
    `${ctx.quick ? 'TCP only in --quick; UDP too in a full run. ' : 'TCP and UDP. '}` +
    `Server for every client: \`sockperf sr [--tcp] -i 127.0.0.1 -p PORT\`, a new one per run. ` +
    `socklab: \`socklab bench [-u] 127.0.0.1:PORT --pingpong --sockperf -l 64 -t ${ctx.seconds} --json\` ` +
    `(--sockperf: each message starts with sockperf's 14-byte header, so sockperf's server answers it). ` +
    `Peer: \`sockperf pp [--tcp] -i 127.0.0.1 -p PORT -t ${ctx.seconds} -m 64\`; figure = ReceivedMessages / ` +
    `RunTime of its "[Valid Duration]" line (sockperf leaves out its warm-up and cool-down), its ` +
    `percentiles doubled (sockperf reports one-way latency, RTT/2). Plain Node: ` +
    `benchmarks/peers/pingpong-client.js (net/dgram, 'data' events, sockperf-shaped messages).`,
  async run(ctx) {
    const T = ctx.seconds;
    const transports = ctx.quick ? ['tcp'] : ['tcp', 'udp'];
    const rows = [];
    const variants = {};
    for (const transport of transports) {
      const name = `${this.name} ${transport}`;
      const v = await alternate(
        ctx,
        name,
        [
          {
            key: 'socklab',
            label: `socklab bench ${transport === 'udp' ? '-u ' : ''}--pingpong --sockperf`,
            run: () =>
              round(
                () => sockperfServer(transport),
                () =>
                  socklabPingpong(PORTS[transport].sockperf, T, {
                    cpu: CPU,
                    udp: transport === 'udp',
                    sockperf: true,
                  }),
              ),
          },
          {
            key: 'peer',
            label: `sockperf pp${transport === 'tcp' ? ' --tcp' : ''}`,
            run: () =>
              round(
                () => sockperfServer(transport),
                () => sockperfClient(transport, T),
              ),
          },
          {
            key: 'plain',
            label: `plain Node ${transport}`,
            run: () =>
              round(
                () => sockperfServer(transport),
                () => plainClient(transport, PORTS[transport].sockperf, T),
              ),
          },
        ],
        { unit: 'perSecond' },
      );
      for (const [k, slot] of Object.entries(v)) variants[`${transport} ${k}`] = slot;
      const r = ratio(v.socklab.median, v.peer.median);
      const show = (slot) => {
        if (!slot.values.length) return cell(slot);
        const p = (key) => units.us(median(slot.samples.map((s) => s[key])));
        return `${units.perSecond(slot.median)}, p50 ${p('p50_us')}, p99 ${p('p99_us')}`;
      };
      const broken = Object.values(v).find((s) => s.error);
      rows.push({
        label: `pingpong-client ${transport} vs sockperf`,
        socklab: show(v.socklab),
        peer: show(v.peer),
        plain: show(v.plain),
        ratio: r,
        ratioText: fmtRatio(r),
        goal: GOAL.text,
        met: broken ? undefined : meets(r, GOAL),
        error: broken?.error,
      });
    }
    return { variants, rows };
  },
};
