/**
 * udp-receive: how many 64-byte datagrams a second `socklab listen -u` takes in from a sender that
 * sends as fast as it can (sockperf tp), and how many are lost; both pinned to one CPU.
 */
import { sleep, start } from '../lib/proc.js';
import { iperf3, listening, plainPeer, socklab } from '../lib/roles.js';
import { alternate, cell } from '../lib/rounds.js';
import { fmtRatio, median, ratio, units } from '../lib/stats.js';

const IPERF3_PORT = 61301; // iperf3 -s cannot report a port 0 it was given
const CPU = '0';
const LENGTH = 64;

/** sockperf sends LENGTH-byte datagrams to `port` for `seconds`; resolves its sent count and time. */
async function sockperfSend(port, seconds) {
  const sender = start(
    'sockperf',
    ['tp', '-i', '127.0.0.1', '-p', String(port), '-m', String(LENGTH), '-t', String(seconds)],
    { cpu: CPU, deadlineMs: seconds * 1000 + 15_000 },
  );
  const r = await sender.exited;
  const m = /Total of (\d+) messages sent in ([\d.]+) sec/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`sockperf tp printed no total${sender.lastWords()}`);
  return { sent: Number(m[1]), seconds: Number(m[2]), command: sender.commandLine };
}

/** A receiver started on port 0, fed by sockperf, then stopped with SIGINT to print its count. */
async function receive(receiver, countPattern, seconds) {
  const { proc, port } = await listening(receiver);
  try {
    const s = await sockperfSend(port, seconds);
    await sleep(100); // let it read what is still queued
    proc.signal('SIGINT');
    const received = Number((await proc.waitFor(countPattern, { stream: 'stderr', timeoutMs: 10_000 }))[1]);
    return {
      value: received / s.seconds,
      received,
      sent: s.sent,
      lossPercent: (100 * Math.max(0, s.sent - received)) / s.sent,
      seconds: s.seconds,
      commands: [proc.commandLine, s.command],
    };
  } finally {
    await proc.stop();
  }
}

export default {
  name: 'udp-receive',
  order: 30,
  title: 'UDP receive rate, 64-byte datagrams sent as fast as possible (loopback, both pinned to CPU 0)',
  method: (ctx) =>
    `Receiver and sender both under \`taskset -c ${CPU}\`. socklab and plain Node receive from ` +
    `\`sockperf tp -i 127.0.0.1 -p PORT -m ${LENGTH} -t ${ctx.seconds}\` (sockperf tp needs no sockperf server: it ` +
    `only sends); after it ends and 100 ms more, the receiver gets SIGINT and prints its count ` +
    `(socklab: "summary udp://...: N datagrams, ..."). Rate = datagrams received / sockperf's sending ` +
    `time; loss = 1 - received / sockperf's "Total of N messages sent". socklab runs with \`--quiet\` ` +
    `only, not \`--quiet -v\`: with -v it writes a line per datagram to stderr ("datagram from ...: 64 ` +
    `bytes"), which measures its logging, and the summary line is printed with --quiet alone. The ` +
    `peer is iperf3's receiver (\`iperf3 -s -1\`) fed by its own client ` +
    `(\`iperf3 -c 127.0.0.1 -u -b 0 -l ${LENGTH} -t ${ctx.seconds} -J\`), figures from the client's JSON ` +
    `end.sum_received (bytes / ${LENGTH} / seconds, lost_percent); its sender is iperf3's, not sockperf, ` +
    `so the offered rates differ a little. Plain Node: benchmarks/peers/udp-receiver.js (a 'message' ` +
    `handler counting, default socket buffer). The goal: socklab's rate >= 0.95x iperf3's receiver ` +
    `and a loss no higher than iperf3's.`,
  async run(ctx) {
    const T = ctx.seconds;
    const v = await alternate(
      ctx,
      this.name,
      [
        {
          key: 'socklab',
          label: 'socklab listen -u',
          run: () =>
            receive(
              socklab(['listen', '-u', '127.0.0.1:0', '--quiet'], { cpu: CPU }),
              /summary udp:\/\/\S+: (\d+) datagrams/,
              T,
            ),
        },
        {
          key: 'peer',
          label: 'iperf3',
          run: async () => {
            const udp = ['-u', '-b', '0', '-l', String(LENGTH)];
            const { end, commands } = await iperf3(IPERF3_PORT, T, udp, { cpu: CPU });
            const s = end.sum_received;
            const received = s.bytes / LENGTH;
            return {
              value: received / s.seconds,
              received,
              sent: s.packets,
              lossPercent: s.lost_percent,
              seconds: s.seconds,
              commands,
            };
          },
        },
        {
          key: 'plain',
          label: 'plain Node',
          run: () => receive(plainPeer('udp-receiver', [], { cpu: CPU }), /received (\d+) datagrams/, T),
        },
      ],
      { unit: 'perSecond' },
    );
    const loss = (slot) => median(slot.samples.map((s) => s.lossPercent));
    const show = (slot) =>
      slot.values.length ? `${cell(slot, units.perSecond)}, ${units.percent(loss(slot))} lost` : cell(slot);
    const r = ratio(v.socklab.median, v.peer.median);
    const broken = [v.socklab, v.peer].find((s) => s.error);
    return {
      variants: v,
      rows: [
        {
          label: 'udp-receive vs iperf3',
          socklab: show(v.socklab),
          peer: show(v.peer),
          plain: show(v.plain),
          ratio: r,
          ratioText: fmtRatio(r),
          goal: '>= 0.95x iperf3, loss no higher',
          met: broken ? undefined : r >= 0.95 && loss(v.socklab) <= loss(v.peer),
          error: broken?.error,
        },
      ],
    };
  },
};
