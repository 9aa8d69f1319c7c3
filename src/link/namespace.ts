/**
 * The link's inner network namespace, held by one small process (`unshare --net sh`) that reads
 * its stdin from us: when this process ends, however it ends (even SIGKILL), the pipe closes, the
 * holder exits, and the namespace goes with its last process. Nothing is named, mounted or kept.
 *
 * Commands run inside with `nsenter --net=/proc/PID/ns/net` (util-linux), under
 * `setpriv --pdeathsig KILL` so they do not outlive socklab either. Addresses and routes are set
 * with iproute2's `ip -batch`.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { once } from 'node:events';
import { SocklabError } from '../errors.js';

/** How long setting up the namespace may take (spawning unshare, ip). */
const SETUP_TIMEOUT_MS = 10_000;

export interface Namespace {
  /** The holder's pid: `nsenter -t PID -n` enters the namespace. */
  readonly pid: number;
  readonly netnsPath: string;
  /** Run `ip -batch -` inside (or, `outside`, in this process's namespace) with these lines. */
  ip(lines: readonly string[], where?: 'inside' | 'outside'): Promise<void>;
  /** Spawn a command inside. */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** The holder exited on its own (killed): the namespace may be gone. */
  readonly exited: Promise<void>;
  close(): Promise<void>;
}

function setupError(what: string, why: string, cause?: unknown): SocklabError {
  return new SocklabError('SOCKLAB_ERR_SOCKET', `cannot set up the link's namespace: ${what}: ${why}`, {
    cause,
  });
}

/** Wait for a child to exit; its stderr's first line if it failed. */
async function finished(child: ChildProcess, what: string): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), SETUP_TIMEOUT_MS);
  try {
    const [code, signal] = (await Promise.race([
      once(child, 'exit'),
      once(child, 'error').then(([err]) => {
        throw setupError(what, (err as Error).message, err);
      }),
    ])) as [number | null, NodeJS.Signals | null];
    if (code !== 0) {
      const line = stderr.trim().split('\n')[0] ?? '';
      throw setupError(what, line || (signal ? `killed by ${signal}` : `exit status ${code}`));
    }
  } finally {
    clearTimeout(timer);
  }
}

export async function createNamespace(): Promise<Namespace> {
  // `echo` tells us unshare has made the namespace; `read` waits for our end of the pipe to close.
  const holder = spawn('unshare', ['--net', '--', 'sh', '-c', 'echo ready; read _'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  holder.stderr.setEncoding('utf8');
  holder.stderr.on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  const exited = once(holder, 'exit').then(() => undefined);
  exited.catch(() => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(setupError('unshare --net', 'no answer in 10 s')),
        SETUP_TIMEOUT_MS,
      );
      holder.once('error', (err) => {
        clearTimeout(timer);
        reject(setupError('unshare --net', err.message, err));
      });
      holder.once('exit', (code) => {
        clearTimeout(timer);
        reject(setupError('unshare --net', stderr.trim().split('\n')[0] || `exit status ${code}`));
      });
      holder.stdout.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (err) {
    holder.kill('SIGKILL');
    throw err;
  }
  const pid = holder.pid!;
  const netnsPath = `/proc/${pid}/ns/net`;
  const enter = ['--net=' + netnsPath, '--'];
  return {
    pid,
    netnsPath,
    exited,
    async ip(lines, where = 'inside') {
      const child =
        where === 'inside'
          ? spawn('nsenter', [...enter, 'ip', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] })
          : spawn('ip', ['-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      child.stdin.on('error', () => undefined); // it failed early: its stderr says why
      child.stdin.end(lines.join('\n') + '\n');
      await finished(child, `ip ${where === 'inside' ? 'in the namespace' : 'outside'} (${lines[0]}…)`);
    },
    spawn(command, args, options = {}) {
      return spawn('nsenter', [...enter, 'setpriv', '--pdeathsig', 'KILL', '--', command, ...args], options);
    },
    async close() {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      await stopEveryoneInside(pid);
      holder.stdin.end();
      const timer = setTimeout(() => holder.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function namespaceOf(pid: number | string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined; // gone, or not ours to look at
  }
}

/** The processes in the namespace that `holder` holds, other than the holder itself. */
function processesInside(holder: number): number[] {
  const ns = namespaceOf(holder);
  if (ns === undefined || ns === namespaceOf('self')) return [];
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && Number(name) !== holder)
    .filter((name) => namespaceOf(name) === ns)
    .map(Number);
}

/**
 * Whatever still runs inside (a command's children that outlived it: a server it started in the
 * background): SIGTERM, then SIGKILL after STOP_GRACE_MS. They were all started by this link.
 */
const STOP_GRACE_MS = 1_000;

async function stopEveryoneInside(holder: number): Promise<void> {
  let pids = processesInside(holder);
  if (pids.length === 0) return;
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    pids = processesInside(holder);
    if (pids.length === 0) return;
  }
  signal('SIGKILL');
}

/** What `ip -j addr` says is in use: [network, prefix length] of each IPv4 address. */
export async function ipv4Networks(): Promise<[number, number][]> {
  const child = spawn('ip', ['-j', '-4', 'addr'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (out += chunk));
  await finished(child, 'ip -j addr');
  const parsed = JSON.parse(out || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  const networks: [number, number][] = [];
  for (const link of parsed) {
    for (const a of link.addr_info ?? []) {
      if (typeof a.local !== 'string' || typeof a.prefixlen !== 'number') continue;
      const parts = a.local.split('.').map(Number);
      const n = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
      networks.push([n, a.prefixlen]);
    }
  }
  return networks;
}

/**
 * Why this process cannot run the link inside a user namespace of its own (`unshare --user
 * --map-root-user --net`), or undefined if it can: the kernel refuses unprivileged user namespaces,
 * or unshare is missing. Tried, not guessed: one `unshare ... true`.
 */
export function userNamespaceProblem(): string | undefined {
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--net', '--', 'true'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: SETUP_TIMEOUT_MS,
  });
  if (r.error) return `unshare (util-linux) cannot run: ${r.error.message}`;
  if (r.status === 0) return undefined;
  const line = (r.stderr ?? '').trim().split('\n')[0] ?? '';
  return (
    `this kernel does not let users create user namespaces (${line || `unshare exit status ${r.status}`}): ` +
    `run as root, or allow them (sysctl kernel.unprivileged_userns_clone=1, or user.max_user_namespaces > 0)`
  );
}
