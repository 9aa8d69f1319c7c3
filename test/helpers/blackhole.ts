/**
 * A TCP port on 127.0.0.1 where a connect neither succeeds nor is refused: a listener that never
 * accepts, its accept queue full, so the kernel drops further SYNs (test/fixtures/peers/blackhole.py).
 * For timeouts and aborts of a pending connect, on loopback.
 */
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PYTHON } from './python.js';
import { startProcess } from './spawn.js';

const SCRIPT = fileURLToPath(new URL('../../../test/fixtures/peers/blackhole.py', import.meta.url));

export async function blackholePort(t: TestContext): Promise<number> {
  const proc = startProcess(PYTHON, ['-u', '-B', SCRIPT], { lifetimeMs: 60_000 });
  t.after(() => proc.stop('SIGKILL'));
  await proc.waitFor(/PORT \d+\n/);
  return Number(/PORT (\d+)/.exec(proc.stdout())![1]);
}
