/**
 * Running the real `socklab` bin in tests: one-shot (`runCli`) or long-running (`startCli`, for
 * servers, which resolves once the server has printed its "listening on …" lines). Both are
 * spawn.ts's processes: stopped by PID, killed after a lifetime limit.
 */
import { fileURLToPath } from 'node:url';
import { runProcess, startProcess, type ProcessResult, type Spawned } from './spawn.js';

/** The compiled bin, as `npm install` builds it. */
export const BIN = fileURLToPath(new URL('../../../dist/cli/bin.js', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export type CliResult = ProcessResult;

export interface RunOptions {
  /** Written to stdin, then stdin is closed. Without it stdin is closed at once. */
  input?: string | Buffer;
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Run `socklab ...args` to completion (killed after timeoutMs, default 20 s). */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    ...(options.env ? { env: options.env } : {}),
    ...(options.input !== undefined ? { input: options.input } : {}),
    timeoutMs: options.timeoutMs ?? 20_000,
    lifetimeMs: (options.timeoutMs ?? 20_000) + 5_000,
  });
}

export interface RunningCli extends Spawned {
  /** Addresses from the "listening on …" lines, in order: `tcp://127.0.0.1:PORT`. */
  readonly addresses: string[];
  /** Ports from those lines, in order. */
  readonly ports: number[];
  /** Send a signal (default SIGINT, like Ctrl-C) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  /** Wait for the process to exit by itself (killed after timeoutMs, default 20 s). */
  exited(timeoutMs?: number): Promise<CliResult>;
}

/** A socklab server may run as long as the longest test that uses it (the 64 MiB transfer). */
const SERVER_LIFETIME_MS = 120_000;

/**
 * Start `socklab ...args` in the background and wait until it has printed `listening on` once per
 * expected address (default 1). The caller stops it: `t.after(() => server.stop())` right away.
 */
export async function startCli(
  args: readonly string[],
  options: {
    listening?: number;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /** A command that runs node, e.g. `['prlimit', '--nofile=64']`. */
    prefix?: readonly string[];
  } = {},
): Promise<RunningCli> {
  const [command, ...before] = [...(options.prefix ?? []), process.execPath];
  const proc = startProcess(command, [...before, BIN, ...args], {
    cwd: REPO_ROOT,
    ...(options.env ? { env: options.env } : {}),
    lifetimeMs: SERVER_LIFETIME_MS,
  });
  const listening = options.listening ?? 1;
  try {
    await proc.waitFor(
      new RegExp(`(listening on \\S+\\n[^]*){${listening}}`),
      'stderr',
      options.timeoutMs ?? 10_000,
    );
  } catch (e) {
    proc.child.kill('SIGKILL');
    throw e;
  }
  const addresses = [...proc.stderr().matchAll(/listening on (\S+)/g)].map((m) => m[1]!);
  return {
    ...proc,
    addresses,
    ports: addresses.map((a) => Number(/:(\d+)$/.exec(a)?.[1])),
    stop: (signal: NodeJS.Signals = 'SIGINT') => proc.stop(signal),
    exited: (timeoutMs = 20_000) => proc.exited(timeoutMs),
  };
}
