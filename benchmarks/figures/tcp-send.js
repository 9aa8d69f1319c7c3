/* global Buffer */
/**
 * tcp-send: how fast `socklab connect` streams a file (pipe mode: stdin to the socket) into a sink
 * that discards it; figure = file size / wall time of the sending command.
 */
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { start } from '../lib/proc.js';
import { fixedPort, plainPeer, socklab } from '../lib/roles.js';
import { alternate, standardRow } from '../lib/rounds.js';

const SINK_PORT = 61201; // socat cannot report a port 0 it was given
const CPU = '0';

/** A file of `mib` MiB of pseudo-random bytes (a 1 MiB block repeated). */
function makeFile(file, mib) {
  const block = Buffer.alloc(1 << 20);
  let x = 0x2545f491;
  for (let i = 0; i < block.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  const fd = openSync(file, 'w');
  try {
    for (let i = 0; i < mib; i++) writeFileSync(fd, block);
  } finally {
    closeSync(fd);
  }
}

/** Start the sink, run `send()` (which starts the sender), time the sender from spawn to exit. */
async function timed(bytes, startSender) {
  const sink = await fixedPort(
    'socat',
    ['-b', '1048576', '-u', `TCP-LISTEN:${SINK_PORT},reuseaddr,bind=127.0.0.1`, '/dev/null'],
    SINK_PORT,
    'tcp',
    { cpu: CPU, deadlineMs: 120_000 },
  );
  try {
    const sender = startSender(SINK_PORT);
    const r = await sender.exited;
    if (r.code !== 0 || r.timedOut)
      throw new Error(
        `sender ${r.timedOut ? 'timed out' : `failed (${r.code ?? r.signal})`}${sender.lastWords()}`,
      );
    return {
      value: (bytes * 8) / (r.ms / 1000),
      seconds: r.ms / 1000,
      commands: [sink.commandLine, sender.commandLine],
    };
  } finally {
    await sink.stop();
  }
}

export default {
  name: 'tcp-send',
  order: 20,
  title: 'TCP send throughput: a file streamed into a discarding sink (loopback, both pinned to CPU 0)',
  method: (ctx) =>
    `A ${ctx.quick ? 256 : 1024} MiB file in ${ctx.tmpdir.startsWith('/dev/shm') ? '/dev/shm (tmpfs)' : 'the temporary directory'} ` +
    `(created once, deleted at the end) is sent to \`socat -b 1048576 -u TCP-LISTEN:${SINK_PORT},reuseaddr /dev/null\`, ` +
    `a new sink per run; sender and sink under \`taskset -c ${CPU}\`. Figure = file size x 8 / the wall time of ` +
    `the sending command, from spawn to exit (so the ~40 ms a Node process takes to start counts ` +
    `against socklab and plain Node, not against socat). socklab: \`socklab connect 127.0.0.1:PORT < FILE\` ` +
    `(pipe mode: sends stdin, half-closes, exits when the sink closes). Peer: ` +
    `\`socat -u FILE TCP:127.0.0.1:PORT\`, the issue's command (socat's default 8 KiB buffer; with ` +
    `\`-b 1048576\` socat sends about 1.7x faster, and socklab reaches ~0.8x of that, the rest being ` +
    `Node's start-up: measured by hand, not in this table). Plain Node: benchmarks/peers/tcp-sender.js, ` +
    `fs.createReadStream(file).pipe(net.connect(...)).`,
  async run(ctx) {
    const mib = ctx.quick ? 256 : 1024;
    const bytes = mib * 1048576;
    const file = path.join(ctx.tmpdir, 'tcp-send.bin');
    makeFile(file, mib);
    try {
      const v = await alternate(
        ctx,
        this.name,
        [
          {
            key: 'socklab',
            label: 'socklab connect < FILE',
            run: () =>
              timed(bytes, (port) => {
                const fd = openSync(file, 'r');
                try {
                  const p = socklab(['connect', `127.0.0.1:${port}`], {
                    cpu: CPU,
                    stdin: fd,
                    deadlineMs: 120_000,
                  });
                  p.commandLine += ` < ${file}`;
                  return p;
                } finally {
                  closeSync(fd); // the child has its own copy
                }
              }),
          },
          {
            key: 'peer',
            label: 'socat',
            run: () =>
              timed(bytes, (port) =>
                start('socat', ['-u', file, `TCP:127.0.0.1:${port}`], {
                  cpu: CPU,
                  deadlineMs: 120_000,
                }),
              ),
          },
          {
            key: 'plain',
            label: 'plain Node',
            run: () =>
              timed(bytes, (port) =>
                plainPeer('tcp-sender', [file, String(port)], { cpu: CPU, deadlineMs: 120_000 }),
              ),
          },
        ],
        { unit: 'bitsPerSecond' },
      );
      const row = (label, compare, goal) => standardRow(v, { label, compare, goal, unit: 'bitsPerSecond' });
      return {
        variants: v,
        rows: [row('tcp-send vs socat', 'socklab/peer', { op: '>=', ratio: 0.9, text: '>= 0.9x socat' })],
      };
    } finally {
      rmSync(file, { force: true });
    }
  },
};
