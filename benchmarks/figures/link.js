/* global process */
/**
 * link: socklab link (two TUN devices, socklab moving every packet) against the kernel's own path
 * between two network namespaces, a veth pair: iperf3 TCP throughput and ping RTT side by side, and
 * ping through --delay 20ms. Everything runs in namespaces the bench makes (198.18.0.0/15, nothing
 * routed beyond them), pinned to CPU 0. Needs root; elsewhere the figure says it is not available.
 */
import { BIN, NODE } from '../lib/roles.js';
import { start } from '../lib/proc.js';
import { alternate } from '../lib/rounds.js';
import { fmtRatio, units } from '../lib/stats.js';

const CPU = '0';
const PORT = 61091;

/** A namespace held by a shell that reads a pipe (it goes with the bench). */
async function namespace() {
  const holder = start('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && echo ready && read _'], {
    stdin: 'pipe',
    deadlineMs: 3_600_000,
  });
  await holder.waitFor(/ready/, { stream: 'stdout' });
  return { holder, path: `/proc/${holder.pid}/ns/net`, pid: holder.pid };
}

const inside = (ns, command, args, options = {}) =>
  start('nsenter', [`--net=${ns.path}`, '--', command, ...args], { cpu: CPU, ...options });

async function done(proc, what) {
  const r = await proc.exited;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code ?? r.signal})${proc.lastWords()}`);
  return r;
}

/** veth between namespaces a (198.18.250.1) and b (198.18.250.2). */
async function vethPair() {
  const a = await namespace();
  const b = await namespace();
  const ip = (ns, line) => done(inside(ns, 'ip', line.split(' ')), `ip ${line}`);
  await ip(a, `link add va type veth peer name vb netns ${b.pid}`);
  await ip(a, 'addr add 198.18.250.1/30 dev va');
  await ip(a, 'link set va up');
  await ip(b, 'addr add 198.18.250.2/30 dev vb');
  await ip(b, 'link set vb up');
  return { client: a, server: b, serverAddress: '198.18.250.2' };
}

/** iperf3 -s in `serverNs`; the client command runs via `runClient(args)` and prints iperf3's JSON. */
async function iperf(serverNs, seconds, runClient) {
  const server = inside(serverNs, 'iperf3', ['-s', '-1', '-p', String(PORT), '--forceflush'], {
    deadlineMs: seconds * 1000 + 30_000,
  });
  try {
    await server.waitFor(/Server listening/, { stream: 'stdout' });
    return await runClient(['-p', String(PORT), '-t', String(seconds), '-J']);
  } finally {
    await server.stop();
  }
}

function parseIperf(stdout) {
  const json = JSON.parse(stdout.slice(stdout.indexOf('{')));
  if (json.error) throw new Error(`iperf3: ${json.error}`);
  return json.end.sum_received.bits_per_second;
}

function parsePing(stdout) {
  const rtts = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length === 0) throw new Error(`ping: no reply${stdout.slice(-200)}`);
  const sorted = [...rtts].sort((x, y) => x - y);
  const mean = rtts.reduce((s, x) => s + x, 0) / rtts.length;
  const mdev = Math.sqrt(rtts.reduce((s, x) => s + (x - mean) ** 2, 0) / rtts.length);
  return { p50: sorted[Math.floor(sorted.length / 2)], mean, mdev, count: rtts.length };
}

/** `socklab link [faults] -- sh -c SCRIPT` in namespace `outer`, pinned; stdout and the JSON counters. */
async function throughLink(outer, faults, script, seconds, env = undefined) {
  const proc = inside(outer, NODE, [BIN, 'link', ...faults, '--json', '--', 'sh', '-c', script], {
    deadlineMs: seconds * 1000 + 60_000,
    ...(env ? { env } : {}),
  });
  const r = await done(proc, 'socklab link');
  const counters = JSON.parse(r.stderr.trim().split('\n').at(-1));
  return { stdout: r.stdout, counters, commandLine: proc.commandLine };
}

/** iperf3 through `socklab link FLAGS`: the receiver's bit/s, socklab's CPU per GB, the path taken. */
async function linkTcp(outer, flags, seconds, env = undefined) {
  const r = await iperf(outer, seconds, (args) =>
    throughLink(outer, flags, `exec iperf3 -c "$SOCKLAB_LINK_PEER" ${args.join(' ')}`, seconds, env),
  );
  const p = r.counters.process;
  const forwarded = r.counters.up.counters.forwarded.bytes + r.counters.down.counters.forwarded.bytes;
  return {
    value: parseIperf(r.stdout),
    cpuSecondsPerGB: (p.cpuUserMs + p.cpuSystemMs) / 1000 / (forwarded / 1e9),
    maxRssMiB: p.maxRssBytes / 1048576,
    offload: r.counters.path?.offload,
    commands: [r.commandLine],
  };
}

export default {
  name: 'link',
  order: 70,
  title: 'socklab link against a veth pair (the kernel alone): iperf3 TCP, ping RTT, --delay 20ms (CPU 0)',
  method: (ctx) =>
    `Two namespaces joined by a veth pair (198.18.250.0/30) against \`socklab link\` from a third ` +
    `namespace (the outer side) to its own; everything (iperf3 -c/-s, ping, socklab) pinned with ` +
    `\`taskset -c ${CPU}\`. TCP: \`iperf3 -c -t ${ctx.seconds}\`, receiver's bit/s (Linux's default ` +
    `congestion control): the default path (with no impairment, offload: TSO segments of up to 64 KiB, as veth has), ` +
    `and one packet at a time (\`--no-offload\`, what loss, duplicates, reordering, corruption, a rate, --pcap and --log use; runs of TCP segments written as one GSO write, and without that, \`SOCKLAB_LINK_GRO=0\`) at MTU 1500 and with \`--mtu 9000\` on the link (veth keeps 1500). RTT: \`ping -c 50 -i 0.02\`, median of the replies; the link's added RTT ` +
    `is its median less veth's. --delay 20ms: \`ping -c 50 -i 0.05\` through \`socklab link --delay 20ms\`, ` +
    `mean and mdev (goal 40 ms ± 0.2, mdev <= 0.2), also with \`--realtime\` (socklab under SCHED_FIFO). CPU per GB: socklab's user+system CPU seconds ` +
    `(process.resourceUsage) per GB it forwarded. Goals from issue 13: TCP >= 0.13x veth; added RTT ` +
    `p50 < 0.27 ms.`,
  async run(ctx) {
    if (process.getuid?.() !== 0) {
      const why = 'needs root (network namespaces, TUN devices)';
      return {
        rows: [
          {
            label: 'link TCP vs veth',
            unavailable: why,
            socklab: '-',
            peer: '-',
            plain: '-',
            ratioText: '-',
            goal: '>= 0.13x veth',
          },
        ],
      };
    }
    const veth = await vethPair();
    const outer = await namespace();
    const seconds = ctx.seconds;
    try {
      const tcp = await alternate(
        ctx,
        this.name,
        [
          {
            key: 'socklab',
            label: 'socklab link (default path)',
            unit: 'bitsPerSecond',
            run: () => linkTcp(outer, [], seconds),
          },
          {
            key: 'perpacket',
            label: 'socklab link --no-offload',
            unit: 'bitsPerSecond',
            run: () => linkTcp(outer, ['--no-offload'], seconds),
          },
          {
            key: 'nogro',
            label: 'socklab link --no-offload, SOCKLAB_LINK_GRO=0',
            unit: 'bitsPerSecond',
            run: () => linkTcp(outer, ['--no-offload'], seconds, { SOCKLAB_LINK_GRO: '0' }),
          },
          {
            key: 'jumbo',
            label: 'socklab link --no-offload --mtu 9000',
            unit: 'bitsPerSecond',
            run: () => linkTcp(outer, ['--no-offload', '--mtu', '9000'], seconds),
          },
          {
            key: 'peer',
            label: 'veth (kernel only)',
            unit: 'bitsPerSecond',
            run: async () => {
              const r = await iperf(veth.server, seconds, (args) =>
                done(
                  inside(veth.client, 'iperf3', ['-c', veth.serverAddress, ...args], {
                    deadlineMs: seconds * 1000 + 30_000,
                  }),
                  'iperf3 -c',
                ),
              );
              return { value: parseIperf(r.stdout) };
            },
          },
        ],
        { unit: 'bitsPerSecond' },
      );
      const rtt = await alternate(
        ctx,
        this.name,
        [
          {
            key: 'socklab',
            label: 'ping through socklab link',
            unit: 'ms',
            run: async () => {
              const r = await throughLink(outer, [], 'exec ping -n -c 50 -i 0.02 "$SOCKLAB_LINK_PEER"', 5);
              const p = parsePing(r.stdout);
              return { value: p.p50, mean: p.mean, mdev: p.mdev };
            },
          },
          {
            key: 'peer',
            label: 'ping across veth',
            unit: 'ms',
            run: async () => {
              const r = await done(
                inside(veth.client, 'ping', ['-n', '-c', '50', '-i', '0.02', veth.serverAddress]),
                'ping',
              );
              const p = parsePing(r.stdout);
              return { value: p.p50, mean: p.mean, mdev: p.mdev };
            },
          },
        ],
        { unit: 'ms' },
      );
      const delayed = await alternate(
        ctx,
        this.name,
        [
          {
            key: 'socklab',
            label: 'ping through socklab link --delay 20ms',
            unit: 'ms',
            run: async () => {
              const r = await throughLink(
                outer,
                ['--delay', '20ms'],
                'exec ping -n -c 50 -i 0.05 "$SOCKLAB_LINK_PEER"',
                10,
              );
              const p = parsePing(r.stdout);
              return { value: p.mean, mdev: p.mdev, p50: p.p50 };
            },
          },
          {
            key: 'realtime',
            label: 'ping through socklab link --realtime --delay 20ms',
            unit: 'ms',
            run: async () => {
              const r = await throughLink(
                outer,
                ['--realtime', '--delay', '20ms'],
                'exec ping -n -c 50 -i 0.05 "$SOCKLAB_LINK_PEER"',
                10,
              );
              const p = parsePing(r.stdout);
              return { value: p.mean, mdev: p.mdev, p50: p.p50 };
            },
          },
        ],
        { unit: 'ms' },
      );

      const s = tcp.socklab;
      const v = tcp.peer;
      const ratio = s.median / v.median;
      const cpu = s.samples.map((x) => x.cpuSecondsPerGB).sort((a, b) => a - b)[
        Math.floor(s.samples.length / 2)
      ];
      const perPacketCpu = tcp.perpacket.samples.map((x) => x.cpuSecondsPerGB).sort((a, b) => a - b)[
        Math.floor(tcp.perpacket.samples.length / 2)
      ];
      const path = s.samples.every((x) => x.offload === true) ? 'offload' : 'per packet';
      const added = rtt.socklab.median - rtt.peer.median;
      const d = delayed.socklab;
      const mdev = d.samples.map((x) => x.mdev).sort((a, b) => a - b)[Math.floor(d.samples.length / 2)];
      const broken = (slot) => slot.error ?? slot.unavailable;
      const rtSamples = delayed.realtime.samples.map((x) => x.mdev).sort((a, b) => a - b);
      const rtMdev = rtSamples[Math.floor(rtSamples.length / 2)];
      return {
        // One level of slots, as the report reads them (it printed nothing for this figure with three).
        variants: Object.fromEntries(
          Object.entries({ tcp, rtt, delay: delayed }).flatMap(([group, slots]) =>
            Object.entries(slots).map(([key, slot]) => [`${group}-${key}`, slot]),
          ),
        ),
        rows: [
          {
            label: `link TCP (iperf3) vs veth, default path (${path})`,
            socklab: `${units.bitsPerSecond(s.median)} (${cpu?.toFixed(1)} CPU-s/GB)`,
            peer: units.bitsPerSecond(v.median),
            plain: '-',
            ratio,
            ratioText: fmtRatio(ratio),
            goal: '>= 0.13x veth',
            met: broken(s) || broken(v) ? undefined : ratio >= 0.13,
            error: s.error ?? v.error,
          },
          {
            label: 'link --no-offload TCP vs veth (per packet)',
            socklab: `${units.bitsPerSecond(tcp.perpacket.median)} (${perPacketCpu?.toFixed(1)} CPU-s/GB)`,
            peer: units.bitsPerSecond(v.median),
            plain: '-',
            ratio: tcp.perpacket.median / v.median,
            ratioText: fmtRatio(tcp.perpacket.median / v.median),
            goal: '>= 0.13x veth',
            met: broken(tcp.perpacket) || broken(v) ? undefined : tcp.perpacket.median / v.median >= 0.13,
            error: tcp.perpacket.error ?? v.error,
          },
          {
            label: 'link --no-offload TCP vs veth, GRO off (SOCKLAB_LINK_GRO=0)',
            socklab: units.bitsPerSecond(tcp.nogro.median),
            peer: units.bitsPerSecond(v.median),
            plain: '-',
            ratio: tcp.nogro.median / v.median,
            ratioText: fmtRatio(tcp.nogro.median / v.median),
            goal: '>= 0.13x veth',
            met: broken(tcp.nogro) || broken(v) ? undefined : tcp.nogro.median / v.median >= 0.13,
            error: tcp.nogro.error ?? v.error,
          },
          {
            label: 'link --no-offload --mtu 9000 TCP vs veth',
            socklab: units.bitsPerSecond(tcp.jumbo.median),
            peer: units.bitsPerSecond(v.median),
            plain: '-',
            ratio: tcp.jumbo.median / v.median,
            ratioText: fmtRatio(tcp.jumbo.median / v.median),
            goal: '>= 0.13x veth',
            met: broken(tcp.jumbo) || broken(v) ? undefined : tcp.jumbo.median / v.median >= 0.13,
            error: tcp.jumbo.error ?? v.error,
          },
          {
            label: 'link ping RTT p50 vs veth',
            socklab: units.ms(rtt.socklab.median),
            peer: units.ms(rtt.peer.median),
            plain: '-',
            ratio: added,
            ratioText: `+${(added * 1000).toFixed(0)} us`,
            goal: 'added < 0.27 ms',
            met: broken(rtt.socklab) || broken(rtt.peer) ? undefined : added < 0.27,
            error: rtt.socklab.error ?? rtt.peer.error,
          },
          {
            label: 'link --realtime --delay 20ms: ping',
            socklab: `${delayed.realtime.median?.toFixed(2)} ms (mdev ${rtMdev?.toFixed(3)})`,
            peer: '-',
            plain: '-',
            ratio: delayed.realtime.median,
            ratioText: '-',
            goal: '40 ± 0.2 ms, mdev <= 0.2',
            met: broken(delayed.realtime)
              ? undefined
              : Math.abs(delayed.realtime.median - 40) <= 0.2 && rtMdev <= 0.2,
            error: delayed.realtime.error,
          },
          {
            label: 'link --delay 20ms: ping mean (mdev)',
            socklab: `${d.median?.toFixed(2)} ms (mdev ${mdev?.toFixed(3)})`,
            peer: '-',
            plain: '-',
            ratio: d.median,
            ratioText: '-',
            goal: '40 ± 0.2 ms, mdev <= 0.2',
            met: broken(d) ? undefined : Math.abs(d.median - 40) <= 0.2 && mdev <= 0.2,
            error: d.error,
          },
        ],
      };
    } finally {
      for (const ns of [veth.client, veth.server, outer]) await ns.holder.stop();
    }
  },
};
