/**
 * connections-10k: 10,000 TCP connections opened at once by `socklab bench --connections`, each
 * ping-ponging 64-byte messages, against `socklab listen --echo` (one process, and --workers 2)
 * and a plain Node echo server: round trips/s, connect failures, time to establish, and the
 * server's peak memory.
 */
import { groupMembers, memoryOf } from '../lib/proc.js';
import { listening, plainPeer, socklab } from '../lib/roles.js';
import { alternate, cell, standardRow, Unavailable } from '../lib/rounds.js';
import { fmtRatio, meets, median, ratio, units } from '../lib/stats.js';

const CONNECTIONS = 10_000;

/** The server (started on port 0), the client against it; memory read before anything stops. */
async function measure(startServer, seconds) {
  const server = startServer();
  let port;
  try {
    port = (await listening(server)).port;
  } catch (err) {
    const r = await server.exited;
    if (/unknown option '--workers'/i.test(r.stderr))
      throw new Unavailable("this socklab has no 'listen --workers'");
    throw err;
  }
  let client;
  try {
    client = socklab(
      ['bench', `127.0.0.1:${port}`, '--connections', String(CONNECTIONS), '-t', String(seconds), '--json'],
      { nofile: true, deadlineMs: seconds * 1000 + 60_000 },
    );
    // The report is out once the JSON's last brace is: the client's own teardown of 10,000
    // sockets (seconds) is not waited for, and the server's memory is read while they are open.
    await client.waitFor(/^\}\s*$/m, { stream: 'stdout', timeoutMs: seconds * 1000 + 60_000 });
    const end = JSON.parse(client.stdout()).end;
    const pids = groupMembers(server.pid);
    const peakRss = pids.reduce((sum, pid) => sum + memoryOf(pid).peak, 0);
    return {
      value: end.round_trips_per_second,
      roundTrips: end.round_trips,
      connections: end.connections,
      connectFailures: end.connect_failures,
      establishMs: end.establish_ms,
      peakRss,
      processes: pids.length,
      commands: [server.commandLine, client.commandLine],
    };
  } finally {
    await client?.stop('SIGKILL');
    await server.stop();
  }
}

export default {
  name: 'connections-10k',
  order: 70,
  title: '10,000 concurrent TCP connections ping-ponging against an echo server (not pinned)',
  method: (ctx) =>
    `Client: \`socklab bench 127.0.0.1:PORT --connections ${CONNECTIONS} -t ${ctx.seconds} --json\`, which opens ` +
    `all ${CONNECTIONS} connections at once (one burst) and then keeps one 64-byte message in flight on ` +
    `each; figures from its JSON (round_trips_per_second, connect_failures, establish_ms). Servers: ` +
    `\`socklab listen 127.0.0.1:0 --echo --quiet\`, the same with \`--workers 2\` (full runs only), and ` +
    `benchmarks/peers/echo-server.js (net.createServer, default backlog 511, 'data' -> write). Client and ` +
    `server run under \`prlimit --nofile=N:N\` (N = 65536 or the hard limit if lower: here the ` +
    `container's hard limit is what \`ulimit -Hn\` says; 10,000 connections need ~10,000 descriptors in ` +
    `each process). Not pinned: --workers needs both CPUs, and all three servers get the same freedom. ` +
    `Server memory: VmHWM (peak RSS) from /proc/PID/status, read after the client's report and before ` +
    `anything is stopped; for --workers 2 the sum over the primary and its workers. The client is then ` +
    `killed (its own teardown of ${CONNECTIONS} sockets is not part of any figure) and the server stopped.`,
  async run(ctx) {
    const T = ctx.seconds;
    // --workers 2 has no goal: it is left out of --quick runs to keep them short.
    const workers = ctx.quick
      ? []
      : [
          {
            key: 'workers',
            label: 'socklab listen --echo --workers 2',
            run: () =>
              measure(
                () =>
                  socklab(['listen', '127.0.0.1:0', '--echo', '--quiet', '--workers', '2'], {
                    nofile: true,
                    deadlineMs: 120_000,
                  }),
                T,
              ),
          },
        ];
    const v = await alternate(
      ctx,
      this.name,
      [
        {
          key: 'socklab',
          label: 'socklab listen --echo',
          run: () =>
            measure(
              () =>
                socklab(['listen', '127.0.0.1:0', '--echo', '--quiet'], {
                  nofile: true,
                  deadlineMs: 120_000,
                }),
              T,
            ),
        },
        ...workers,
        {
          key: 'plain',
          label: 'plain Node',
          run: () => measure(() => plainPeer('echo-server', [], { nofile: true, deadlineMs: 120_000 }), T),
        },
      ],
      // A round here takes 3-6 s (establishing 10,000 connections dominates): --quick does two.
      { unit: 'perSecond', rounds: ctx.quick && !ctx.roundsGiven ? 2 : ctx.rounds },
    );
    const med = (slot, key) => median(slot.samples.map((s) => s[key]));
    const failures = (slot) =>
      slot.values.length
        ? `${Math.max(...slot.samples.map((s) => s.connectFailures))} failed (worst round), established in ${units.ms(med(slot, 'establishMs'))}`
        : cell(slot);
    const memRatio = ratio(med(v.socklab, 'peakRss'), med(v.plain, 'peakRss'));
    const memGoal = { op: '<=', ratio: 1.2 };
    const broken = [v.socklab, v.plain].find((s) => s.error);
    const noFailures = (slot) => slot.values.length > 0 && slot.samples.every((s) => s.connectFailures === 0);
    const rtRow = (label, key, goal) =>
      standardRow(v, { label, compare: `${key}/plain`, socklab: key, goal, unit: 'perSecond' });
    const workersLabel = 'connections-10k --workers 2 rt/s vs plain Node';
    const workersRow = ctx.quick
      ? {
          label: workersLabel,
          socklab: 'not run in --quick',
          peer: '-',
          plain: '-',
          ratio: NaN,
          ratioText: '-',
        }
      : rtRow(workersLabel, 'workers', { op: '>=', ratio: 0, text: '' });
    if (v.workers?.values.length)
      workersRow.socklab += ` (${units.bytes(med(v.workers, 'peakRss'))} peak RSS, ${v.workers.samples[0].processes} processes)`;
    workersRow.goal = '(for reference)';
    workersRow.met = undefined;
    return {
      variants: v,
      rows: [
        rtRow('connections-10k rt/s vs plain Node', 'socklab', {
          op: '>=',
          ratio: 0.95,
          text: '>= 0.95x plain Node',
        }),
        {
          label: 'connections-10k server memory vs plain Node',
          socklab: v.socklab.values.length
            ? `${units.bytes(med(v.socklab, 'peakRss'))} peak RSS`
            : cell(v.socklab),
          peer: '-',
          plain: v.plain.values.length ? `${units.bytes(med(v.plain, 'peakRss'))} peak RSS` : cell(v.plain),
          ratio: memRatio,
          ratioText: fmtRatio(memRatio),
          goal: '<= 1.2x plain Node',
          met: broken ? undefined : meets(memRatio, memGoal),
          error: broken?.error,
        },
        {
          label: 'connections-10k connect failures',
          socklab: failures(v.socklab),
          peer: '-',
          plain: failures(v.plain),
          ratio: NaN,
          ratioText: '-',
          goal: `0 failures, all ${CONNECTIONS} in one burst`,
          met: v.socklab.error ? undefined : noFailures(v.socklab),
          error: v.socklab.error,
        },
        workersRow,
      ],
    };
  },
};
