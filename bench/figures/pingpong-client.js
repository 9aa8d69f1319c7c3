/**
 * pingpong-client: socklab's ping-pong client (`socklab bench --pingpong`) against sockperf's
 * (`sockperf pp`): round trips/s and p50/p99 round-trip time, 64-byte messages, one in flight.
 *
 * The two clients cannot use the same server: sockperf's server answers only messages carrying
 * sockperf's header (socklab's get no answer), and sockperf's client ignores an echo of its own
 * message (the header's "client" flag must come back cleared), so it gets nothing from a plain echo
 * server. sockperf therefore runs against `sockperf sr`, socklab against socat's PIPE echo. The
 * plain Node client sends sockperf-shaped messages, so it runs against both servers: the
 * difference in its round-trip time is the difference between the servers, which is taken out of
 * socklab's before comparing (all processes share one CPU, so the times add up).
 */
import { start } from '../lib/proc.js';
import { fixedPort, plainPeer, socklabPingpong } from '../lib/roles.js';
import { alternate, cell } from '../lib/rounds.js';
import { fmtRatio, median, meets, ratio, units } from '../lib/stats.js';

const CPU = '0';
const PORTS = {
  tcp: { socat: 61601, sockperf: 61602 },
  udp: { socat: 61603, sockperf: 61604 },
};
const GOAL = { op: '>=', ratio: 0.85, text: '>= 0.85x sockperf (server-adjusted)' };

function socatEcho(transport) {
  const port = PORTS[transport].socat;
  const listen =
    transport === 'tcp'
      ? `TCP-LISTEN:${port},reuseaddr,fork,nodelay,bind=127.0.0.1`
      : `UDP4-LISTEN:${port},reuseaddr,fork,bind=127.0.0.1`;
  return fixedPort('socat', [listen, 'PIPE'], port, transport, { cpu: CPU });
}

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
    `Clients and servers all under \`taskset -c ${CPU}\` (see echo-server for why one CPU). ` +
    `${ctx.quick ? 'TCP only in --quick; UDP too in a full run. ' : 'TCP and UDP. '}` +
    `socklab: \`socklab bench [-u] 127.0.0.1:PORT --pingpong -t ${ctx.seconds} --json\` against socat's echo ` +
    `(\`socat TCP-LISTEN:PORT,reuseaddr,fork,nodelay PIPE\`, or UDP4-LISTEN). Peer: \`sockperf pp [--tcp] ` +
    `-i 127.0.0.1 -p PORT -t ${ctx.seconds} -m 64\` against \`sockperf sr [--tcp]\`; figure = ReceivedMessages / ` +
    `RunTime of its "[Valid Duration]" line (sockperf leaves out its 400 ms warm-up and 50 ms cool-down), ` +
    `its percentiles doubled (sockperf reports one-way latency, RTT/2). sockperf and socklab cannot ` +
    `share a server: sockperf sr does not answer socklab's messages (no sockperf header), and sockperf's ` +
    `client discards an unmodified echo (sockperf sr clears the header's "client" flag; socat's PIPE ` +
    `returns it as sent), so sockperf gets no reply from socat. Plain Node: bench/peers/pingpong-client.js, ` +
    `which sends sockperf-shaped messages and so runs against both servers ("plain Node" in the table is ` +
    `the run against socat). Ratio: server-adjusted, socklab's mean round-trip time (1 / rate) minus ` +
    `the plain client's extra time against socat (1/plain@socat - 1/plain@sockperf-sr), compared ` +
    `with sockperf's; the raw ratio (different servers) is shown beside it.`,
  async run(ctx) {
    const T = ctx.seconds;
    const transports = ctx.quick ? ['tcp'] : ['tcp', 'udp'];
    const rows = [];
    const variants = {};
    const extra = {};
    for (const transport of transports) {
      const name = `${this.name} ${transport}`;
      const v = await alternate(
        ctx,
        name,
        [
          {
            key: 'socklab',
            label: `socklab bench ${transport === 'udp' ? '-u ' : ''}--pingpong, socat echo`,
            run: () =>
              round(
                () => socatEcho(transport),
                () => socklabPingpong(PORTS[transport].socat, T, { cpu: CPU, udp: transport === 'udp' }),
              ),
          },
          {
            key: 'peer',
            label: `sockperf pp${transport === 'tcp' ? ' --tcp' : ''}, sockperf sr`,
            run: () =>
              round(
                () => sockperfServer(transport),
                () => sockperfClient(transport, T),
              ),
          },
          {
            key: 'plain',
            label: `plain Node ${transport}, socat echo`,
            run: () =>
              round(
                () => socatEcho(transport),
                () => plainClient(transport, PORTS[transport].socat, T),
              ),
          },
          {
            key: 'plainSockperf',
            label: `plain Node ${transport}, sockperf sr`,
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
      const serverExtra = 1 / v.plain.median - 1 / v.plainSockperf.median; // seconds per round trip
      const adjusted = 1 / (1 / v.socklab.median - serverExtra);
      const r = ratio(adjusted, v.peer.median);
      const raw = ratio(v.socklab.median, v.peer.median);
      extra[transport] = {
        serverExtraUs: serverExtra * 1e6,
        socklabAdjusted: adjusted,
        ratio: r,
        rawRatio: raw,
      };
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
        ratioText: `${fmtRatio(r)} (raw ${fmtRatio(raw)})`,
        goal: GOAL.text,
        met: broken ? undefined : meets(r, GOAL),
        error: broken?.error,
      });
    }
    return {
      variants,
      rows,
      extra,
      notes: transports.map(
        (t) =>
          `${t}: socat's echo costs ${units.us(extra[t].serverExtraUs)} more per round trip than sockperf sr ` +
          `(plain Node client against both); socklab's rate with that taken out: ` +
          `${units.perSecond(extra[t].socklabAdjusted)}.`,
      ),
    };
  },
};
