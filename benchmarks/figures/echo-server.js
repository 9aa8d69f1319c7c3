/**
 * echo-server: round trips a second that one ping-pong client (socklab bench --pingpong, the same
 * for all) gets from `socklab listen --echo`, from socat's PIPE echo and from a plain Node echo.
 */
import { fixedPort, listening, plainPeer, socklab, socklabPingpong } from '../lib/roles.js';
import { alternate, standardRow } from '../lib/rounds.js';

const SOCAT_PORT = 61501; // socat cannot report a port 0 it was given
const CPU = '0';

async function against(server, seconds) {
  try {
    const r = await socklabPingpong(server.port, seconds, { cpu: CPU });
    const { command, ...sample } = r;
    return { ...sample, commands: [server.proc.commandLine, command] };
  } finally {
    await server.proc.stop();
  }
}

export default {
  name: 'echo-server',
  order: 50,
  title:
    'TCP echo server: ping-pong round trips/s of one client, 64-byte messages (server and client on CPU 0)',
  method: (ctx) =>
    `One client for all three servers: \`socklab bench 127.0.0.1:PORT --pingpong -t ${ctx.seconds} --json\` ` +
    `(one 64-byte message in flight), figure end.round_trips_per_second. Servers: ` +
    `\`socklab listen 127.0.0.1:0 --echo --quiet\` (--quiet: without it, listen also prints every message ` +
    `to stdout, which neither peer does), \`socat TCP-LISTEN:${SOCAT_PORT},reuseaddr,fork,nodelay PIPE\` and ` +
    `benchmarks/peers/echo-server.js. Server and client both under \`taskset -c ${CPU}\`: on this 2-vCPU VM a ` +
    `round trip between two CPUs costs a cross-CPU wake-up each way, which dominates and varies with ` +
    `what the other CPU does (measured while writing this figure, socat's echo: ~96 k round trips/s ` +
    `with both on CPU 0, ~54 k with server on CPU 0 and client on CPU 1); on one CPU a round trip is ` +
    `two context switches and the servers' own work shows.`,
  async run(ctx) {
    const T = ctx.seconds;
    const v = await alternate(
      ctx,
      this.name,
      [
        {
          key: 'socklab',
          label: 'socklab listen --echo',
          run: async () =>
            against(
              await listening(socklab(['listen', '127.0.0.1:0', '--echo', '--quiet'], { cpu: CPU })),
              T,
            ),
        },
        {
          key: 'peer',
          label: 'socat PIPE',
          run: async () => {
            const proc = await fixedPort(
              'socat',
              [`TCP-LISTEN:${SOCAT_PORT},reuseaddr,fork,nodelay,bind=127.0.0.1`, 'PIPE'],
              SOCAT_PORT,
              'tcp',
              { cpu: CPU },
            );
            return against({ proc, port: SOCAT_PORT }, T);
          },
        },
        {
          key: 'plain',
          label: 'plain Node',
          run: async () => against(await listening(plainPeer('echo-server', [], { cpu: CPU })), T),
        },
      ],
      { unit: 'perSecond' },
    );
    return {
      variants: v,
      rows: [
        standardRow(v, {
          label: 'echo-server vs socat',
          compare: 'socklab/peer',
          goal: { op: '>=', ratio: 1.0, text: '>= 1.0x socat' },
          unit: 'perSecond',
        }),
      ],
    };
  },
};
