/**
 * A program started in a process group of its own (spawn's `detached`: a new session, as a shell
 * starts a foreground job), so that the whole group can be signalled as a terminal's Ctrl-C does.
 * Only that group is ever signalled, and only while one of its processes is alive (its id cannot
 * be taken by another group before then); it is killed after a lifetime limit.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface GroupResult {
  /** The group leader's (the program's) exit status, or the signal that killed it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Processes of the group still alive once the leader has exited (none, for a tidy program). */
  leftBehind: number[];
}

export interface ProcessGroup {
  /** The leader's PID, which is also the group's id. */
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the match once stderr matches; rejects on timeout or if the leader exits first. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** The live processes of the group (zombies excluded), from /proc. */
  members(): number[];
  /** Signal every process of the group, as a terminal does. */
  signalGroup(signal: NodeJS.Signals): void;
  /** Signal one process of the group (refused for a process outside it). */
  signalMember(pid: number, signal: NodeJS.Signals): void;
  /** Wait for the leader to exit (SIGKILL to the group after timeoutMs), then for its output. */
  exited(timeoutMs?: number): Promise<GroupResult>;
  /** SIGKILL to whatever is left of the group: for t.after. */
  kill(): void;
}

/** The process group of a live process, or undefined (gone, or a zombie). */
function groupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so from the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return state === 'Z' || state === 'X' ? undefined : Number(pgrp);
  } catch {
    return undefined;
  }
}

export function startInOwnGroup(
  command: string,
  args: readonly string[],
  options: { cwd?: string; lifetimeMs?: number } = {},
): ProcessGroup {
  const child = spawn(command, args, { cwd: options.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined); // a spawn failure shows up as 'close' below
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${command}`);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    err += c;
    notify();
  });

  const members = (): number[] => {
    const found: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (/^\d+$/.test(name) && groupOf(Number(name)) === pid) found.push(Number(name));
    }
    return found.sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
  };
  const kill = () => {
    if (members().length > 0) process.kill(-pid, 'SIGKILL');
  };

  let leaderExited = false;
  const exit = new Promise<[number | null, NodeJS.Signals | null, number[]]>((resolve) =>
    child.once('exit', (code, signal) => {
      leaderExited = true;
      notify();
      // Taken at once: a program that waits for its children leaves none behind.
      resolve([code, signal, members()]);
    }),
  );
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const lifetime = setTimeout(kill, options.lifetimeMs ?? 60_000);
  lifetime.unref();
  void exit.then(() => closed).then(() => clearTimeout(lifetime));

  return {
    pid,
    stdout: () => out,
    stderr: () => err,
    waitForStderr: (pattern, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}; stderr: ${err}`));
        }, timeoutMs);
        const check = () => {
          const match = pattern.exec(err);
          if (match) {
            done();
            resolve(match);
          } else if (leaderExited) {
            done();
            reject(new Error(`exited before printing ${String(pattern)}; stderr: ${err}`));
          }
        };
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    members,
    signalGroup: (signal) => {
      if (members().length > 0) process.kill(-pid, signal);
    },
    signalMember: (member, signal) => {
      if (groupOf(member) !== pid) throw new Error(`process ${member} is not in group ${pid}`);
      process.kill(member, signal);
    },
    async exited(timeoutMs = 15_000) {
      const timer = setTimeout(kill, timeoutMs);
      try {
        const [code, signal, leftBehind] = await exit;
        // The output ends when every process holding the pipes has gone (bounded: the same timer).
        await closed;
        return { code, signal, stdout: out, stderr: err, leftBehind };
      } finally {
        clearTimeout(timer);
      }
    },
    kill,
  };
}
