/* global process, URL */
/**
 * The programs a figure starts: socklab's CLI, the plain Node peers in benchmarks/peers/, and the peers
 * that cannot report a port (socat, iperf3 -s, sockperf sr), which get fixed ports above 61000.
 */
import { fileURLToPath } from 'node:url';
import { assertPortFree, start, waitForPort } from './proc.js';

export const NODE = process.execPath;
export const BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));
export const peerScript = (name) => fileURLToPath(new URL(`../peers/${name}.js`, import.meta.url));

/** What socklab (and every plain Node peer here) prints once it listens. */
export const LISTENING = /listening on (tcp|udp):\/\/127\.0\.0\.1:(\d+)/;

/** `node dist/cli/bin.js ARGS`, as a child (options as for start()). */
export const socklab = (args, options) => start(NODE, [BIN, ...args], options);

/** `node benchmarks/peers/NAME.js ARGS`. */
export const plainPeer = (name, args, options) => start(NODE, [peerScript(name), ...args], options);

/** Start a server that prints "listening on ...:PORT" (port 0 asked); resolves { proc, port }. */
export async function listening(proc, timeoutMs = 10_000) {
  try {
    const m = await proc.waitFor(LISTENING, { timeoutMs });
    return { proc, port: Number(m[2]) };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** Start a server on a fixed port and wait until it listens (TCP) or has bound (UDP). */
export async function fixedPort(command, args, port, protocol, options) {
  assertPortFree(port, protocol);
  const proc = start(command, args, options);
  try {
    await waitForPort(port, protocol, { proc });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}

/**
 * `socklab bench 127.0.0.1:PORT --pingpong -t SECONDS --json` (with -u for UDP): round trips/s and
 * p50/p99 from its JSON report.
 */
export async function socklabPingpong(port, seconds, { cpu, udp = false, sockperf = false } = {}) {
  const client = socklab(
    [
      'bench',
      ...(udp ? ['-u'] : []),
      `127.0.0.1:${port}`,
      '--pingpong',
      ...(sockperf ? ['--sockperf', '-l', '64'] : []),
      '-t',
      String(seconds),
      '--json',
    ],
    {
      cpu,
      deadlineMs: seconds * 1000 + 20_000,
    },
  );
  const r = await client.exited;
  if (r.code !== 0)
    throw new Error(`socklab bench --pingpong failed (${r.code ?? r.signal})${client.lastWords()}`);
  const end = JSON.parse(r.stdout).end;
  if (!end.round_trips) throw new Error(`no round trip completed${client.lastWords()}`);
  return {
    value: end.round_trips_per_second,
    roundTrips: end.round_trips,
    p50_us: end.latency_us.p50_us,
    p99_us: end.latency_us.p99_us,
    command: client.commandLine,
  };
}

/**
 * One iperf3 test: `iperf3 -s -1` on a fixed port (it cannot report a port 0), then
 * `iperf3 -c 127.0.0.1 -p PORT -t SECONDS -J ...clientArgs`; resolves with the client's JSON `end`.
 */
export async function iperf3(port, seconds, clientArgs, { cpu } = {}) {
  const server = await fixedPort('iperf3', ['-s', '-1', '-p', String(port)], port, 'tcp', {
    cpu,
    deadlineMs: seconds * 1000 + 20_000,
  });
  try {
    const client = start(
      'iperf3',
      ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J', ...clientArgs],
      { cpu, deadlineMs: seconds * 1000 + 15_000 },
    );
    const r = await client.exited;
    const j = JSON.parse(r.stdout);
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    return { end: j.end, commands: [server.commandLine, client.commandLine] };
  } finally {
    await server.stop();
  }
}

/** The command lines shown in the report: the script paths relative to the repository. */
export function shown(commandLine) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  return commandLine.replaceAll(root, '').replaceAll(NODE, 'node');
}
