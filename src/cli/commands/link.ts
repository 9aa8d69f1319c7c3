/** `socklab link [impairments] -- COMMAND [ARGS...]`: COMMAND behind an emulated, impaired link. */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { SocklabError } from '../../errors.js';
import { FAULT_TYPES } from '../../impair/faults/index.js';
import type { FaultSpec } from '../../impair/fault.js';
import { createLink, LINK_FAULT_TYPES, readLinkFaults, type Link } from '../../link/link.js';
import { setRealtimePriority } from '../../core/hrtimer.js';
import { userNamespaceProblem } from '../../link/namespace.js';
import { describeLinkCounters } from '../../link/report.js';
import { parseCount } from '../../measure/units.js';
import { parseCommandLine, usageError } from '../args.js';
import { faultsFromFlags } from '../fault-flags.js';
import type { Io } from '../io.js';

const LINK_FLAGS = LINK_FAULT_TYPES.flatMap((name) => FAULT_TYPES[name]!.flags);

function flagLine(flag: string, value: string, summary: string): string {
  const left = `      --${flag} ${value}`;
  return left.length < 32 ? `${left.padEnd(32)}${summary}` : `${left}\n${''.padEnd(32)}${summary}`;
}

export const help = `Usage: socklab link [impairments] [options] -- COMMAND [ARGS...]

Runs COMMAND in a new network namespace whose only way out is an emulated link: two TUN devices
(one inside, one here) with socklab moving every IP packet between them through the fault engine.
The kernel's real TCP and UDP meet real loss, delay and rate limits, per packet, per direction.

Inside, COMMAND sees lo and one interface, link0, with an address from 198.18.0.0/15 (RFC 2544)
and a route to the link's /30 only. $SOCKLAB_LINK_PEER is the outer side's address: a server
started here (on all addresses, or on that one) is reachable from inside at it. COMMAND's stdin,
stdout and stderr are socklab's; its exit status is socklab's.

Impairments apply to both directions, or to the ones chosen by --up (inside → outside) and
--down (outside → inside), each scoping the impairments after it. Percentages are 10%; durations
40ms, 1.5s, 250us; rates 1mbit, 100kbps (bytes/s, as in tc).
${LINK_FLAGS.map((f) => flagLine(f.flag, f.value, f.summary)).join('\n')}
      --up, --down, --both      the direction of the impairments after it (default both)
      --seed N                  seed of every random choice: the same seed and the same packets
                                give the same drops, duplicates and reorders (default: random)
Options:
      --outside CMD             also run CMD (with sh -c) here, outside the link, for the run
                                (a server for COMMAND to reach at $SOCKLAB_LINK_PEER); stopped
                                when COMMAND ends; its output goes to stderr
      --mtu N                   MTU of the link (default 1500)
      --offload                 TCP in segments of up to 64 KiB (TSO, as between virtual
                                machines), several times faster: the default with no
                                impairment or --delay/--jitter only, and without --pcap or
                                --log; given, it also carries --rate (a --queue in bytes) and
                                refuses the per-packet impairments
      --no-offload              one MTU-sized packet at a time, whatever the impairments
                                (the exit summary's 'path:' line says which ran, and why);
                                runs of TCP segments are then written as one (GRO), but for
                                --corrupt or with SOCKLAB_LINK_GRO=0
      --realtime                run socklab's packet loop at real-time priority (SCHED_FIFO
                                10; COMMAND runs as usual): delays to within a few
                                microseconds on a busy machine (root only)
      --pcap FILE               write every packet the link sees to FILE (pcap, LINKTYPE_RAW,
                                microsecond timestamps: tcpdump -r FILE, Wireshark)
      --log FILE                a JSON line per packet event (in, forwarded, dropped, …)
      --json                    the counters at exit as one JSON object on stderr
  -q, --quiet                   no counters at exit
  -h, --help                    this help

At exit, on stderr: per direction, packets in, forwarded, dropped (by cause), duplicated,
reordered, corrupted, held at most, time in the link (p50, p99); and the namespace's own kernel
counters (TCP segments retransmitted, loss probes, timeouts; UDP datagrams, errors, checksum errors).

Examples:
  socklab link --delay 50ms -- sh -c 'ping -c 3 $SOCKLAB_LINK_PEER'
      ping's RTT is 100 ms: 50 ms each way
  socklab link --loss 1% --delay 20ms --outside 'iperf3 -s -1'
      -- sh -c 'sleep 0.5; iperf3 -c $SOCKLAB_LINK_PEER'
      real TCP under loss: the kernel's retransmissions beside the link's drops
  socklab link --rate 12mbit --queue 100 -- sh -c 'iperf3 -c $SOCKLAB_LINK_PEER'
  socklab link --up --drop 5 --down --delay 10ms --pcap run.pcap -- bash
  socklab link --corrupt 1% --corrupt-checksum recompute -- python3 client.py

Root or not: as root, the outer side is this namespace (the machine's network, where the outer
device appears for the run). Without root, socklab runs itself again inside a user namespace of its
own (unshare --user --map-root-user --net) where it may make the devices: the outer side is then
that namespace, not the machine's network, so a server for COMMAND must run under the same
socklab link, with --outside. Where the kernel refuses user namespaces to users, it exits 1 and
says so. SOCKLAB_LINK_USERNS=0 turns the user namespace off.
Nothing is left behind: the devices go with socklab's descriptors and the namespace with its last
process, also when COMMAND is killed, when socklab gets Ctrl-C or SIGTERM, and (commands run under
a parent-death signal) when socklab is killed.

Exit status: COMMAND's (128+N if a signal N ended it) · 127 COMMAND not found · 1 no link (not
root, no TUN) · 2 bad usage.
`;

const OPTIONS = {
  up: { type: 'boolean' },
  down: { type: 'boolean' },
  both: { type: 'boolean' },
  seed: { type: 'string' },
  outside: { type: 'string' },
  mtu: { type: 'string' },
  offload: { type: 'boolean' },
  'no-offload': { type: 'boolean' },
  realtime: { type: 'boolean' },
  pcap: { type: 'string' },
  log: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  ...Object.fromEntries(LINK_FLAGS.map((f) => [f.flag, { type: 'string' as const }])),
} as const;

export interface LinkCommandOptions {
  /** The command line as given (to run it again inside a user namespace, without root). */
  readonly argv: readonly string[];
  readonly faults: readonly FaultSpec[];
  readonly seed?: number;
  readonly outside?: string;
  readonly mtu?: number;
  /** true: --offload, false: --no-offload, undefined: the link chooses. */
  readonly offload: boolean | undefined;
  readonly realtime: boolean;
  readonly pcapFile?: string;
  readonly logFile?: string;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly command: string;
  readonly args: readonly string[];
}

export function parse(argv: readonly string[]): LinkCommandOptions {
  const dash = argv.indexOf('--');
  const flags = dash < 0 ? argv : argv.slice(0, dash);
  const { values, positionals, tokens } = parseCommandLine(flags, OPTIONS);
  const v = values as Record<string, string | boolean | undefined>;
  if (positionals.length > 0) {
    throw usageError(
      `'${positionals[0]}': put COMMAND after --, e.g. socklab link --delay 50ms -- ping -c 3 198.18.0.1`,
    );
  }
  const command = dash < 0 ? undefined : argv[dash + 1];
  if (command === undefined || command === '') {
    throw usageError(
      'needs -- COMMAND [ARGS...], e.g. socklab link --delay 50ms -- ping -c 3 $SOCKLAB_LINK_PEER',
    );
  }
  const faults = faultsFromFlags(tokens, 'udp');
  if (v.offload === true && v['no-offload'] === true) {
    throw usageError('--offload and --no-offload: choose one');
  }
  const offload = v.offload === true ? true : v['no-offload'] === true ? false : undefined;
  readLinkFaults({ faults, offload: offload === true }); // every check now, with exit 2
  const str = (name: string) => (typeof v[name] === 'string' ? v[name] : undefined);
  const seedText = str('seed');
  const mtuText = str('mtu');
  const outside = str('outside');
  if (outside !== undefined && outside.trim() === '') throw usageError('--outside needs a command');
  const pcapFile = str('pcap');
  const logFile = str('log');
  return {
    argv: [...argv],
    faults,
    ...(seedText !== undefined ? { seed: parseCount('--seed', seedText, 0, 0xffffffff) } : {}),
    ...(mtuText !== undefined ? { mtu: parseCount('--mtu', mtuText, 576, 65535) } : {}),
    ...(outside !== undefined ? { outside } : {}),
    ...(pcapFile !== undefined ? { pcapFile } : {}),
    ...(logFile !== undefined ? { logFile } : {}),
    offload,
    realtime: v.realtime === true,
    json: v.json === true,
    quiet: v.quiet === true,
    command,
    args: argv.slice(dash + 2),
  };
}

/** Where COMMAND is, as a shell would find it, or undefined. */
function findCommand(command: string): string | undefined {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/')) return executable(command) ? command : undefined;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const file = join(dir || '.', command);
    if (executable(file)) return file;
  }
  return undefined;
}

/** 128 + the signal's number, as a shell reports a command a signal ended. */
function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (osConstants.signals[signal] ?? 1) : 1);
}

/** Stop a child (or, `group`, its process group: a shell and what it started), SIGKILL after 3 s. */
async function stop(child: ChildProcess, signal: NodeJS.Signals, group = false): Promise<void> {
  const kill = (sig: NodeJS.Signals) => {
    try {
      if (group && child.pid !== undefined) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // gone already
    }
  };
  if (child.exitCode !== null || child.signalCode !== null) {
    if (group) kill('SIGKILL'); // the shell is gone: what it left behind in its group is not
    return;
  }
  const gone = once(child, 'exit');
  kill(signal);
  const timer = setTimeout(() => kill('SIGKILL'), 3_000);
  await gone;
  clearTimeout(timer);
  if (group) kill('SIGKILL');
}

/** Set in the copy of socklab that runs inside its own user namespace (not root). */
const IN_USERNS = 'SOCKLAB_LINK_IN_USERNS';

/**
 * Without root: run this same command again under `unshare --user --map-root-user --net`, where
 * socklab is root over a namespace of its own and can make the link. The "outside" of the link is
 * then that namespace, not the machine's network. Signals: SIGTERM is passed on; SIGINT too unless
 * stdin is a terminal (whose Ctrl-C reaches both processes). The copy checks that this process is
 * still its parent, and stops when it is not, so it does not outlive this one.
 */
async function runInUserNamespace(options: LinkCommandOptions, io: Io): Promise<number> {
  const bin = process.argv[1];
  if (bin === undefined)
    throw new SocklabError('SOCKLAB_ERR_SOCKET', 'cannot find the socklab program to run again');
  const own = io.stdout === process.stdout && io.stderr === process.stderr;
  const child = spawn(
    'unshare',
    ['--user', '--map-root-user', '--net', '--', process.execPath, bin, 'link', ...options.argv],
    {
      stdio: [own ? 'inherit' : 'ignore', own ? 'inherit' : 'pipe', own ? 'inherit' : 'pipe'],
      env: { ...process.env, [IN_USERNS]: '1' },
    },
  );
  child.stdout?.pipe(io.stdout, { end: false });
  child.stderr?.pipe(io.stderr, { end: false });
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const failed = once(child, 'error').then(([err]) => {
    throw new SocklabError('SOCKLAB_ERR_SOCKET', `cannot run unshare: ${(err as Error).message}`, {
      cause: err,
    });
  });
  failed.catch(() => undefined);
  const onAbort = () => {
    const reason = String((io.signal.reason as Error | undefined)?.message ?? '');
    const sigint = reason.includes('SIGINT');
    if (!sigint || !process.stdin.isTTY) child.kill(sigint ? 'SIGINT' : 'SIGTERM');
  };
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const [code, signal] = await Promise.race([closed, failed]);
    return exitStatus(code, signal);
  } finally {
    io.signal.removeEventListener('abort', onAbort);
  }
}

/** How often the copy inside a user namespace checks that socklab, its parent, is still there. */
const PARENT_CHECK_MS = 250;

/**
 * In the copy inside a user namespace: an AbortSignal for the end of its parent (killed: this
 * process is given to another parent). The check's timer does not keep the process alive.
 */
function parentGone(): AbortSignal | undefined {
  if (process.env[IN_USERNS] !== '1') return undefined;
  const controller = new AbortController();
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    controller.abort(new SocklabError('SOCKLAB_ERR_ABORTED', 'interrupted (SIGTERM): socklab is gone'));
  }, PARENT_CHECK_MS);
  timer.unref();
  return controller.signal;
}

export async function run(options: LinkCommandOptions, io: Io): Promise<number> {
  if (findCommand(options.command) === undefined) {
    io.stderr.write(`socklab link: cannot run '${options.command}': command not found\n`);
    return 127;
  }
  io.signal.throwIfAborted();
  if (process.getuid?.() !== 0 && process.env[IN_USERNS] === undefined) {
    const why = process.env.SOCKLAB_LINK_USERNS === '0' ? 'SOCKLAB_LINK_USERNS=0' : userNamespaceProblem();
    if (why !== undefined) {
      throw new SocklabError(
        'SOCKLAB_ERR_SOCKET',
        `cannot make the link: not root, and no user namespace to be root in (${why}); run as root`,
      );
    }
    return runInUserNamespace(options, io);
  }
  const gone = parentGone();
  const stopSignal = gone ? AbortSignal.any([io.signal, gone]) : io.signal;
  if (gone) {
    // The user namespace's own network: its loopback is down until someone sets it up.
    spawnSync('ip', ['link', 'set', 'lo', 'up'], { stdio: 'ignore' });
  }
  if (options.realtime) setRealtimePriority();
  const link: Link = await createLink({
    faults: options.faults,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
    ...(options.offload !== undefined ? { offload: options.offload } : {}),
    ...(options.pcapFile !== undefined ? { pcapFile: options.pcapFile } : {}),
    ...(options.logFile !== undefined ? { logFile: options.logFile } : {}),
  });
  let outside: ChildProcess | undefined;
  let child: ChildProcess | undefined;
  try {
    const own = io.stdout === process.stdout && io.stderr === process.stderr;
    const env = { ...process.env, SOCKLAB_LINK_PEER: link.peer, SOCKLAB_LINK_ADDRESS: link.inner };
    if (options.outside !== undefined) {
      // Its own process group, so that stopping it stops what the shell started too.
      outside = spawn('sh', ['-c', options.outside], {
        env,
        detached: true,
        // Its output goes to stderr: stdout is COMMAND's.
        stdio: ['ignore', own ? 2 : 'pipe', own ? 2 : 'pipe'],
      });
      outside.stdout?.pipe(io.stderr, { end: false });
      outside.stderr?.pipe(io.stderr, { end: false });
      outside.on('error', () => undefined);
    }
    const stdio: StdioOptions = own ? 'inherit' : ['ignore', 'pipe', 'pipe'];
    child = link.spawn(options.command, options.args, { stdio, env });
    child.stdout?.pipe(io.stdout, { end: false });
    child.stderr?.pipe(io.stderr, { end: false });
    // 'close': the process ended and its output was all read.
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const failed = once(child, 'error').then(([err]) => {
      throw new SocklabError(
        'SOCKLAB_ERR_SOCKET',
        `cannot run '${options.command}' inside the link: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    });
    failed.catch(() => undefined); // raced below; an error after the exit has nothing to stop
    const running = child;
    const onAbort = () => {
      const reason = String((stopSignal.reason as Error | undefined)?.message ?? '');
      void stop(running, reason.includes('SIGINT') ? 'SIGINT' : 'SIGTERM');
    };
    stopSignal.addEventListener('abort', onAbort, { once: true });
    if (stopSignal.aborted) onAbort(); // Ctrl-C while the link was being made
    const [code, signal] = await Promise.race([exited, failed]);
    stopSignal.removeEventListener('abort', onAbort);
    return exitStatus(code, signal);
  } finally {
    if (outside) await stop(outside, 'SIGTERM', true);
    await link.close();
    if (!options.quiet) {
      const counters = link.counters();
      io.stderr.write(
        options.json
          ? JSON.stringify({
              seed: link.seed,
              peer: link.peer,
              inner: link.inner,
              path: link.path,
              ...counters,
              // What moving the packets cost this process (for the benchmarks: CPU per GB).
              process: {
                cpuUserMs: process.resourceUsage().userCPUTime / 1000,
                cpuSystemMs: process.resourceUsage().systemCPUTime / 1000,
                maxRssBytes: process.resourceUsage().maxRSS * 1024,
              },
            }) + '\n'
          : describeLinkCounters(counters, link),
      );
    }
  }
}
