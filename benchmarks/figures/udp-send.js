/**
 * udp-send: how many 64-byte datagrams a second `socklab bench -u -b 0` sends (as fast as it can),
 * against iperf3's UDP sender and a plain node:dgram loop; sender and sink pinned to one CPU.
 */
import { iperf3, listening, plainPeer, socklab } from '../lib/roles.js';
import { alternate, standardRow } from '../lib/rounds.js';

const IPERF3_PORT = 61401; // iperf3 -s cannot report a port 0 it was given
const CPU = '0';
const LENGTH = 64;
const WINDOW = 64; // plain Node: datagrams handed to libuv and not yet sent, at most

export default {
  name: 'udp-send',
  order: 40,
  title: 'UDP send rate, 64-byte datagrams as fast as possible (loopback, sender and sink pinned to CPU 0)',
  method: (ctx) =>
    `Sender and sink both under \`taskset -c ${CPU}\` (the sink's work shares the CPU, as in every bulk ` +
    `figure). socklab: \`socklab bench -u 127.0.0.1:PORT -b 0 -l ${LENGTH} -t ${ctx.seconds} --json\` against ` +
    `\`socklab bench --server 127.0.0.1:0\`, figure end.sum_sent.packets / end.sum_sent.seconds. Peer: ` +
    `\`iperf3 -c 127.0.0.1 -u -b 0 -l ${LENGTH} -t ${ctx.seconds} -J\` against \`iperf3 -s -1\`, ` +
    `end.sum_sent.packets / seconds. Plain Node: benchmarks/peers/udp-sender.js (a connected dgram socket, ` +
    `send() with a callback, at most ${WINDOW} in flight) into benchmarks/peers/udp-receiver.js. Each sink's ` +
    `count of what arrived is kept with the raw numbers (received).`,
  async run(ctx) {
    const T = ctx.seconds;
    const v = await alternate(
      ctx,
      this.name,
      [
        {
          key: 'socklab',
          label: 'socklab bench -u',
          run: async () => {
            const { proc: server, port } = await listening(
              socklab(['bench', '--server', '127.0.0.1:0'], { cpu: CPU, deadlineMs: T * 1000 + 30_000 }),
            );
            try {
              const client = socklab(
                [
                  'bench',
                  '-u',
                  `127.0.0.1:${port}`,
                  '-b',
                  '0',
                  '-l',
                  String(LENGTH),
                  '-t',
                  String(T),
                  '--json',
                ],
                { cpu: CPU, deadlineMs: T * 1000 + 20_000 },
              );
              const r = await client.exited;
              if (r.code !== 0)
                throw new Error(`socklab bench failed (${r.code ?? r.signal})${client.lastWords()}`);
              const { sum_sent: sent, sum_received: received } = JSON.parse(r.stdout).end;
              return {
                value: sent.packets / sent.seconds,
                sent: sent.packets,
                seconds: sent.seconds,
                received: received?.packets,
                commands: [server.commandLine, client.commandLine],
              };
            } finally {
              await server.stop();
            }
          },
        },
        {
          key: 'peer',
          label: 'iperf3',
          run: async () => {
            const udp = ['-u', '-b', '0', '-l', String(LENGTH)];
            const { end, commands } = await iperf3(IPERF3_PORT, T, udp, { cpu: CPU });
            const sent = end.sum_sent ?? end.sum;
            return {
              value: sent.packets / sent.seconds,
              sent: sent.packets,
              seconds: sent.seconds,
              received: end.sum_received ? end.sum_received.bytes / LENGTH : undefined,
              commands,
            };
          },
        },
        {
          key: 'plain',
          label: 'plain Node',
          run: async () => {
            const { proc: sink, port } = await listening(plainPeer('udp-receiver', [], { cpu: CPU }));
            try {
              const sender = plainPeer(
                'udp-sender',
                [String(port), String(T), String(LENGTH), String(WINDOW)],
                {
                  cpu: CPU,
                  deadlineMs: T * 1000 + 15_000,
                },
              );
              const r = await sender.exited;
              if (r.code !== 0)
                throw new Error(`udp-sender failed (${r.code ?? r.signal})${sender.lastWords()}`);
              const j = JSON.parse(r.stdout);
              sink.signal('SIGINT');
              const m = await sink.waitFor(/received (\d+) datagrams/, { stream: 'stderr' });
              return {
                value: j.perSecond,
                sent: j.sent,
                seconds: j.seconds,
                received: Number(m[1]),
                commands: [sink.commandLine, sender.commandLine],
              };
            } finally {
              await sink.stop();
            }
          },
        },
      ],
      { unit: 'perSecond' },
    );
    return {
      variants: v,
      rows: [
        standardRow(v, {
          label: 'udp-send vs iperf3',
          compare: 'socklab/peer',
          goal: { op: '>=', ratio: 0.9, text: '>= 0.9x iperf3' },
          unit: 'perSecond',
        }),
      ],
    };
  },
};
