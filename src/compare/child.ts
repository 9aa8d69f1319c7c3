/**
 * A lane agent in a child process: JSON lines on its stdin (requests) and stdout (events). The
 * child runs `agent-main.js` (AGENT_MAIN); whoever starts it (spawn here, `link.spawn()` in a
 * network namespace) hands the ChildProcess to `childAgent()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Agent } from './agent.js';
import { decodeLine, encodeLine, type AgentEvent } from './protocol.js';

/** The child's entry point: `node AGENT_MAIN`. */
export const AGENT_MAIN = fileURLToPath(new URL('./agent-main.js', import.meta.url));

/** How long a child has to leave once told to, before it is killed. */
const EXIT_GRACE_MS = 2_000;

export function childAgent(child: ChildProcess): Agent {
  let handler: (event: AgentEvent) => void = () => undefined;
  let said = false;
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let event: AgentEvent;
    try {
      event = decodeLine<AgentEvent>(line);
    } catch {
      return; // not one of ours
    }
    if (event.ev === 'received' || event.ev === 'sent') said = true;
    handler(event);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  child.once('exit', (code, signal) => {
    if (!said) {
      const why = stderr.trim().split('\n').at(-1) ?? '';
      handler({
        ev: 'error',
        message: `the lane agent exited (${signal ?? `code ${code}`})${why ? `: ${why}` : ''}`,
      });
    }
  });
  child.once('error', (err) =>
    handler({ ev: 'error', message: `the lane agent did not start: ${err.message}` }),
  );
  child.stdin?.on('error', () => undefined);
  return {
    send: (request) => {
      child.stdin?.write(encodeLine(request));
    },
    onEvent: (h) => (handler = h),
    async close() {
      said = true;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS);
      await exited;
      clearTimeout(timer);
      lines.close();
    },
  };
}

/** An agent in a child Node process on this machine (the loopback path; tests of the split). */
export function spawnAgent(): Agent {
  return childAgent(spawn(process.execPath, [AGENT_MAIN], { stdio: ['pipe', 'pipe', 'pipe'] }));
}
