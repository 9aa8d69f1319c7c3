/**
 * Any program the tests talk to (the seeds' Python, ncat, socat, nc) started in the background:
 * its output is collected, awaited by pattern with a timeout, and the process is stopped by its
 * PID — never by name — and killed after a lifetime limit so nothing outlives a hung test.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout exactly as received, for binary data. */
  stdoutBytes: Buffer;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Killed (SIGKILL) after this long whatever happens. Default 30 s. */
  readonly lifetimeMs?: number;
}

export interface Spawned {
  readonly child: ChildProcessWithoutNullStreams;
  /** `python3 x.py 1234`, for failure messages. */
  readonly description: string;
  stdout(): string;
  /** stdout so far, exactly as received. */
  stdoutBytes(): Buffer;
  stderr(): string;
  /** Write to the program's stdin (kept open until `endInput()`). */
  write(data: string | Buffer): void;
  endInput(data?: string | Buffer): void;
  /** Resolves when the stream contains `pattern`; rejects on timeout or if the program exits first. */
  waitFor(pattern: string | RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
  /** Waits for the program to exit by itself; SIGKILL after timeoutMs (default 15 s). */
  exited(timeoutMs?: number): Promise<ProcessResult>;
  /** Signal it (default SIGTERM) unless it has exited; SIGKILL if it is still there after 5 s. */
  stop(signal?: NodeJS.Signals): Promise<ProcessResult>;
  hasExited(): boolean;
}

export function startProcess(command: string, args: readonly string[], options: StartOptions = {}): Spawned {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const description = [command, ...args].join(' ');
  // The program may exit before reading its stdin; a spawn failure shows up as 'close' below.
  child.stdin.on('error', () => undefined);
  child.on('error', () => undefined);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout.on('data', (c: Buffer) => {
    out.push(c);
    notify();
  });
  child.stderr.on('data', (c: Buffer) => {
    err.push(c);
    notify();
  });
  let exited = false;
  const closed = (once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>).then((r) => {
    exited = true;
    clearTimeout(lifetime);
    notify();
    return r;
  });
  const lifetime = setTimeout(() => child.kill('SIGKILL'), options.lifetimeMs ?? 30_000);
  lifetime.unref();

  const text = (which: 'stdout' | 'stderr') => Buffer.concat(which === 'stdout' ? out : err).toString('utf8');
  const result = async (): Promise<ProcessResult> => {
    const [code, signal] = await closed;
    const stdoutBytes = Buffer.concat(out);
    return { code, signal, stdout: stdoutBytes.toString('utf8'), stderr: text('stderr'), stdoutBytes };
  };
  const exitedWithin = async (timeoutMs = 15_000): Promise<ProcessResult> => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await result();
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    child,
    description,
    stdout: () => text('stdout'),
    stdoutBytes: () => Buffer.concat(out),
    stderr: () => text('stderr'),
    write: (data) => {
      if (child.stdin.writable) child.stdin.write(data);
    },
    endInput: (data) => {
      if (child.stdin.writable) child.stdin.end(data);
    },
    waitFor: (pattern, stream = 'stdout', timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const matches = () =>
          typeof pattern === 'string' ? text(stream).includes(pattern) : pattern.test(text(stream));
        const check = () => {
          if (matches()) {
            done();
            resolve();
          } else if (exited) {
            done();
            reject(
              new Error(
                `${description} exited before printing ${String(pattern)} on ${stream}; ` +
                  `stdout: ${JSON.stringify(text('stdout'))} stderr: ${JSON.stringify(text('stderr'))}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${String(pattern)} on ${stream} of ${description}; ` +
                `stdout: ${JSON.stringify(text('stdout'))} stderr: ${JSON.stringify(text('stderr'))}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    exited: exitedWithin,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exited) child.kill(signal);
      return exitedWithin(5_000);
    },
    hasExited: () => exited,
  };
}

/** Run a program to completion (killed after timeoutMs) with `input` on its stdin. */
export async function runProcess(
  command: string,
  args: readonly string[],
  options: StartOptions & { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  const proc = startProcess(command, args, options);
  proc.endInput(options.input);
  return proc.exited(options.timeoutMs ?? 15_000);
}

/** The full path of `name` on PATH (or the path itself if it has a slash), or undefined. */
export async function findExecutable(name: string): Promise<string | undefined> {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin')
        .split(path.delimiter)
        .map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: try the next directory
    }
  }
  return undefined;
}
