/**
 * For the link tests: a throwaway network namespace to stand for "outside", so that socklab link's
 * outer TUN device (and everything the tests start) lives there and never in the machine's own
 * namespace. It is held by a shell reading a pipe from the test: it ends with the test process.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BIN, REPO_ROOT } from './cli.js';
import { findExecutable, runProcess, startProcess, type ProcessResult, type Spawned } from './spawn.js';

export const LINK_PEER = fileURLToPath(new URL('../../../test/fixtures/peers/link_peer.py', import.meta.url));

/** Why the link tests cannot run here (they are skipped with this message), or undefined. */
export async function linkSkipReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'socklab link is Linux-only';
  if (process.getuid?.() !== 0) {
    return 'socklab link needs root here (/dev/net/tun is root-only, no usable user namespace): run the tests as root';
  }
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  if (!existsSync(`${REPO_ROOT}native/build/Release/socklab_tun.node`)) {
    return 'the native addon (native/tun.c) is not built: node native/build.js';
  }
  for (const tool of ['unshare', 'nsenter', 'setpriv', 'ip', 'python3']) {
    if ((await findExecutable(tool)) === undefined) return `${tool} is not installed`;
  }
  // A container may be root without CAP_SYS_ADMIN or CAP_NET_ADMIN: try, in a namespace of its own.
  const probe = await runProcess('unshare', ['--net', '--', 'ip', 'tuntap', 'add', 'probe0', 'mode', 'tun'], {
    timeoutMs: 10_000,
  });
  if (probe.code !== 0) {
    return `cannot make a network namespace with a TUN device here (${probe.stderr.trim().split('\n')[0] ?? probe.code})`;
  }
  return undefined;
}

export interface Outer {
  readonly pid: number;
  /** Start a program in the namespace (stopped by the test). */
  start(command: string, args: readonly string[]): Spawned;
  /** Run a program there to completion. */
  run(
    command: string,
    args: readonly string[],
    options?: { timeoutMs?: number; input?: string },
  ): Promise<ProcessResult>;
  /** `socklab link ARGS` there, to completion. */
  link(args: readonly string[], options?: { timeoutMs?: number; input?: string }): Promise<ProcessResult>;
  /** The interfaces there (`ip -br link`): only lo, unless something was left behind. */
  interfaces(): Promise<string[]>;
  close(): Promise<void>;
}

export async function outerNamespace(): Promise<Outer> {
  const holder = startProcess(
    'unshare',
    ['--net', '--', 'sh', '-c', 'ip link set lo up && echo ready && read _'],
    {
      lifetimeMs: 600_000,
    },
  );
  await holder.waitFor('ready', 'stdout', 10_000);
  const pid = holder.child.pid!;
  const enter = [`--net=/proc/${pid}/ns/net`, '--'];
  const outer: Outer = {
    pid,
    start: (command, args) => startProcess('nsenter', [...enter, command, ...args], { lifetimeMs: 300_000 }),
    run: (command, args, options = {}) =>
      runProcess('nsenter', [...enter, command, ...args], {
        timeoutMs: options.timeoutMs ?? 30_000,
        lifetimeMs: (options.timeoutMs ?? 30_000) + 5_000,
        ...(options.input !== undefined ? { input: options.input } : {}),
      }),
    link: (args, options = {}) => outer.run(process.execPath, [BIN, 'link', ...args], options),
    async interfaces() {
      const r = await outer.run('ip', ['-br', 'link']);
      return r.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]!)
        .filter(Boolean);
    },
    async close() {
      holder.endInput();
      await holder.exited(5_000);
    },
  };
  return outer;
}

/** The machine's own interfaces, to check that a test changed nothing there. */
export async function rootInterfaces(): Promise<string[]> {
  const r = await runProcess('ip', ['-br', 'link']);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/)[0]!)
    .sort();
}

/** The counters object that `socklab link --json` prints as the last line of stderr. */
export interface JsonCounters {
  seed: number;
  peer: string;
  inner: string;
  up: JsonDirection;
  down: JsonDirection;
  kernel: Record<string, number>;
}

export interface JsonDirection {
  counters: Record<string, { packets: number; bytes: number }>;
  packetsIn: number;
  lostTcpData: number;
  lostTcpEmpty: number;
  heldPeak: number;
  timeInLink: { count: number; p50_us: number; p99_us: number };
}

export function jsonCounters(stderr: string): JsonCounters {
  const last = stderr.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as JsonCounters;
  } catch {
    throw new Error(`no JSON counters at the end of stderr:\n${stderr}`);
  }
}

/** The JSON line a link_peer.py program printed last. */
export function peerJson<T>(stdout: string): T {
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as T;
}

/** Whether a process still exists. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has ended
  } catch {
    return false;
  }
}

export interface UdpSinkResult {
  seqs: number[];
  delays_us: number[];
  damaged: number;
}

/** A UDP sink outside, numbered datagrams from inside through `faults`: what arrived, and the link's counters. */
export async function udpThrough(
  outer: Outer,
  faults: readonly string[],
  count: number,
  gapUs: number,
  lingerMs = 300,
): Promise<{ sink: UdpSinkResult; counters: JsonCounters }> {
  const sink = outer.start('python3', [LINK_PEER, 'udp-sink', '0']);
  try {
    await sink.waitFor(/ready \d+/, 'stdout', 10_000);
    const port = /ready (\d+)/.exec(sink.stdout())![1]!;
    const r = await outer.link(
      [
        ...faults,
        '--json',
        '--',
        'sh',
        '-c',
        `exec python3 "$0" udp-source "$SOCKLAB_LINK_PEER" ${port} ${count} ${gapUs} ${lingerMs}`,
        LINK_PEER,
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = await sink.stop('SIGTERM');
    return { sink: peerJson<UdpSinkResult>(result.stdout), counters: jsonCounters(r.stderr) };
  } finally {
    await sink.stop('SIGKILL');
  }
}
