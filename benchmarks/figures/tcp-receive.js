/* global performance */
/**
 * tcp-receive: how fast `socklab listen` takes in one TCP stream. socat pours /dev/zero into it for a
 * fixed time and is then stopped; throughput = bytes the receiver counted / that time.
 */
import { sleep, start } from '../lib/proc.js';
import { iperf3, listening, plainPeer, socklab } from '../lib/roles.js';
import { alternate, standardRow } from '../lib/rounds.js';

const IPERF3_PORT = 61101; // iperf3 -s cannot report a port 0 it was given
const CPU = '0';

/** socat sends to PORT for `seconds`, then is stopped; returns the sending time in seconds. */
async function pour(port, seconds) {
  const socat = start('socat', ['-b', '1048576', '-u', '/dev/zero', `TCP:127.0.0.1:${port}`], {
    cpu: CPU,
    deadlineMs: seconds * 1000 + 10_000,
  });
  await sleep(seconds * 1000);
  const stoppedAt = performance.now();
  await socat.stop();
  return { seconds: (stoppedAt - socat.startedAt) / 1000, command: socat.commandLine };
}

/** A receiver that prints "listening on ...:PORT", then its byte count when the client closes. */
async function receive(receiver, bytesPattern, seconds) {
  const { proc, port } = await listening(receiver);
  try {
    const sent = await pour(port, seconds);
    const m = await proc.waitFor(bytesPattern, { stream: 'stderr', timeoutMs: 10_000 });
    const bytes = Number(m[1]);
    return {
      value: (bytes * 8) / sent.seconds,
      bytes,
      seconds: sent.seconds,
      commands: [proc.commandLine, sent.command],
    };
  } finally {
    await proc.stop();
  }
}

export default {
  name: 'tcp-receive',
  order: 10,
  title: 'TCP receive throughput (one stream, loopback, receiver and sender pinned to CPU 0)',
  method: (ctx) =>
    `Receiver and sender both run under \`taskset -c ${CPU}\`, so they share one CPU and the receiver's ` +
    `cost per byte shows directly. For socklab and plain Node the sender is ` +
    `\`socat -b 1048576 -u /dev/zero TCP:127.0.0.1:PORT\`, run for ${ctx.seconds} s and then stopped ` +
    `(SIGTERM); throughput = the bytes the receiver reports when the connection closes ` +
    `(socklab -v: "closed ...: N bytes in") x 8 / the time from starting socat to stopping it ` +
    `(a few ms of connection set-up included). The peer is iperf3 at both ends ` +
    `(\`iperf3 -s -1\` and \`iperf3 -c ... -t ${ctx.seconds} -J\`), its figure ` +
    `end.sum_received.bits_per_second: its own sender (128 KiB writes) rather than socat, so the ` +
    `socklab/iperf3 ratio compares receiver+sender pairs. Plain Node: benchmarks/peers/tcp-receiver.js ` +
    `('data' events, bytes counted).`,
  async run(ctx) {
    const T = ctx.seconds;
    const v = await alternate(
      ctx,
      this.name,
      [
        {
          key: 'socklab',
          label: 'socklab listen',
          run: () =>
            receive(
              socklab(['listen', '127.0.0.1:0', '--quiet', '-v', '--once'], { cpu: CPU }),
              /closed \S+ \(#1\): (\d+) bytes in/,
              T,
            ),
        },
        {
          key: 'peer',
          label: 'iperf3',
          run: async () => {
            const { end, commands } = await iperf3(IPERF3_PORT, T, [], { cpu: CPU });
            const s = end.sum_received;
            return { value: s.bits_per_second, bytes: s.bytes, seconds: s.seconds, commands };
          },
        },
        {
          key: 'plain',
          label: 'plain Node',
          run: () => receive(plainPeer('tcp-receiver', [], { cpu: CPU }), /closed: (\d+) bytes in/, T),
        },
      ],
      { unit: 'bitsPerSecond' },
    );
    return {
      variants: v,
      rows: [
        standardRow(v, {
          label: 'tcp-receive vs plain Node',
          compare: 'socklab/plain',
          goal: { op: '>=', ratio: 1.0, text: '>= 1.0x plain Node' },
          unit: 'bitsPerSecond',
        }),
        standardRow(v, {
          label: 'tcp-receive vs iperf3',
          compare: 'socklab/peer',
          goal: { op: '>=', ratio: 0.8, text: '>= 0.8x iperf3' },
          unit: 'bitsPerSecond',
        }),
      ],
    };
  },
};
