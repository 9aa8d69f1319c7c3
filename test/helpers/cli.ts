/**
 * Running the real `socklab` bin in tests: one-shot (`runCli`) or long-running (`startCli`, for
 * servers, which resolves once the server has printed its "listening on …" lines).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The compiled bin, as `npm install` builds it. */
export const BIN = fileURLToPath(new URL('../../../dist/cli/bin.js', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunOptions {
  /** Written to stdin, then stdin is closed. Without it stdin is closed at once. */
  input?: string | Buffer;
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Run `socklab ...args` to completion (killed after timeoutMs, default 20 s). */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return collect(child, options);
}

export async function collect(
  child: ChildProcessWithoutNullStreams,
  options: RunOptions = {},
): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.on('error', () => undefined); // the child may exit before reading everything
  if (options.input !== undefined) child.stdin.end(options.input);
  else child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const stdoutBytes = Buffer.concat(out);
  return {
    code,
    signal,
    stdout: stdoutBytes.toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    stdoutBytes,
  };
}

export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  /** Addresses from the "listening on …" lines, in order: `tcp://127.0.0.1:PORT`. */
  readonly addresses: string[];
  /** Ports from those lines, in order. */
  readonly ports: number[];
  /** Everything printed so far. */
  stdout(): string;
  stdoutBytes(): Buffer;
  stderr(): string;
  /** Resolves when stdout (or stderr) contains `text`; rejects after timeoutMs. */
  waitFor(text: string | RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
  /** Send a signal and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  /** Wait for the process to exit by itself (killed after timeoutMs). */
  exited(timeoutMs?: number): Promise<CliResult>;
}

/**
 * Start `socklab ...args` in the background and wait until it has printed `listening on` once per
 * expected address (default 1). The caller stops it: `t.after(() => server.stop())` right away.
 */
export async function startCli(
  args: readonly string[],
  options: { listening?: number; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunningCli> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => undefined);
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
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  let exited = false;
  void closed.then(() => {
    exited = true;
    notify();
  });
  const text = (which: 'stdout' | 'stderr') => Buffer.concat(which === 'stdout' ? out : err).toString('utf8');
  const waitFor = (pattern: string | RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const test = () =>
        typeof pattern === 'string' ? text(stream).includes(pattern) : pattern.test(text(stream));
      const check = () => {
        if (test()) {
          done();
          resolve();
        } else if (exited) {
          done();
          reject(
            new Error(
              `socklab exited before printing ${String(pattern)} on ${stream}; stderr: ${text('stderr')}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out waiting for ${String(pattern)} on ${stream}; stdout: ${text('stdout')} stderr: ${text('stderr')}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const result = async (): Promise<CliResult> => {
    const [code, signal] = await closed;
    const stdoutBytes = Buffer.concat(out);
    return { code, signal, stdout: stdoutBytes.toString('utf8'), stderr: text('stderr'), stdoutBytes };
  };
  const exitedWithin = async (timeoutMs = 20_000) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await result();
    } finally {
      clearTimeout(timer);
    }
  };
  const listening = options.listening ?? 1;
  const pattern = new RegExp(`(listening on \\S+\\n[^]*){${listening}}`);
  try {
    await waitFor(pattern, 'stderr', options.timeoutMs ?? 10_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const addresses = [...text('stderr').matchAll(/listening on (\S+)/g)].map((m) => m[1]!);
  return {
    child,
    addresses,
    ports: addresses.map((a) => Number(/:(\d+)$/.exec(a)?.[1])),
    stdout: () => text('stdout'),
    stdoutBytes: () => Buffer.concat(out),
    stderr: () => text('stderr'),
    waitFor,
    exited: exitedWithin,
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (!exited) child.kill(signal);
      return exitedWithin();
    },
  };
}
