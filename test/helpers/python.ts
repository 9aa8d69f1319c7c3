/**
 * The seeds' own Python programs (test/fixtures/seeds/*.py), run as the tutorials run them, with
 * the port from the OS: a server binds port 0 and prints `PORT <n>` first thing after bind.
 *
 * Every program is started with `python3 -u` (unbuffered: its prints are seen as they happen) and
 * `-B` (no __pycache__ in the fixtures), bounded by a lifetime limit, and stopped by PID.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { runProcess, startProcess, type ProcessResult, type Spawned } from './spawn.js';

/** The fixtures stay in the source tree (tsc does not copy .py files): build/test/helpers → test/fixtures. */
export const SEEDS_DIR = fileURLToPath(new URL('../../../test/fixtures/seeds/', import.meta.url));
export const PYTHON = process.env.SOCKLAB_TEST_PYTHON ?? 'python3';

export interface PythonOptions {
  /** Extra environment (e.g. SEED003_SLEEP_S, SEED003_RANDOM_SEED). */
  readonly env?: Record<string, string>;
  /** Killed after this long whatever happens. Default 30 s. */
  readonly lifetimeMs?: number;
}

function pythonArgs(script: string, args: readonly string[]): string[] {
  return ['-u', '-B', path.join(SEEDS_DIR, script), ...args];
}

function environment(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  // PYTHONIOENCODING: the tutorials print non-ASCII text; do not depend on the machine's locale.
  return { ...process.env, PYTHONIOENCODING: 'utf-8', ...extra };
}

export interface PythonServer extends Spawned {
  /** The port the server bound, from its `PORT <n>` line. */
  readonly port: number;
}

/**
 * Start a seed server on 127.0.0.1, port 0, and resolve once it has printed the port it bound.
 * Register `t.after(() => server.stop())` right away.
 */
export async function startPythonServer(
  script: string,
  options: PythonOptions & { host?: string; startTimeoutMs?: number } = {},
): Promise<PythonServer> {
  const proc = startProcess(PYTHON, pythonArgs(script, ['0', options.host ?? '127.0.0.1']), {
    env: environment(options.env),
    ...(options.lifetimeMs !== undefined ? { lifetimeMs: options.lifetimeMs } : {}),
  });
  try {
    await proc.waitFor(/^PORT \d+$/m, 'stdout', options.startTimeoutMs ?? 10_000);
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
  const port = Number(/^PORT (\d+)$/m.exec(proc.stdout())?.[1]);
  return Object.assign(proc, { port });
}

/** Start a seed client against 127.0.0.1:port (it runs on its own; await `.exited()`). */
export function startPythonClient(script: string, port: number, options: PythonOptions = {}): Spawned {
  return startProcess(PYTHON, pythonArgs(script, [String(port), '127.0.0.1']), {
    env: environment(options.env),
    ...(options.lifetimeMs !== undefined ? { lifetimeMs: options.lifetimeMs } : {}),
  });
}

/** Run a seed client against 127.0.0.1:port to completion (killed after timeoutMs, default 15 s). */
export async function runPythonClient(
  script: string,
  port: number,
  options: PythonOptions & { input?: string; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return runProcess(PYTHON, pythonArgs(script, [String(port), '127.0.0.1']), {
    env: environment(options.env),
    ...(options.input !== undefined ? { input: options.input } : {}),
    timeoutMs: options.timeoutMs ?? 15_000,
  });
}

/**
 * The numbers `random.random()` gives after `random.seed(seed)`, as `str()` prints them: what
 * seed 003's TCP client sends when SEED003_RANDOM_SEED is set. Computed by the same Python, so
 * the test knows every message without the client having to print it.
 */
export async function pythonRandoms(seed: number, count: number): Promise<string[]> {
  const code =
    'import random, sys\nrandom.seed(int(sys.argv[1]))\nfor _ in range(int(sys.argv[2])): print(str(random.random()))';
  const result = await runProcess(PYTHON, ['-c', code, String(seed), String(count)], { timeoutMs: 10_000 });
  if (result.code !== 0) throw new Error(`${PYTHON} -c random failed: ${result.stderr}`);
  return result.stdout.trimEnd().split('\n');
}
