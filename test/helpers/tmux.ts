/**
 * A real terminal for tests: a private tmux server (its own socket, `tmux -L NAME`) running a
 * plain shell in a detached 120×30 pane. Tests type into it (`type`, `keys`), read the screen
 * (`capture`, `waitForScreen`) and end it by killing only that tmux server.
 *
 * tmux has no event for "the screen changed", so `waitForScreen` polls `capture-pane` at a fixed
 * interval, bounded by a deadline.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { BIN, REPO_ROOT } from './cli.js';

const run = promisify(execFile);

export const TMUX = 'tmux';
const POLL_INTERVAL_MS = 50;
const DEFAULT_WAIT_MS = 10_000;
/** Any single tmux command (send-keys, capture-pane) that takes longer than this is stuck. */
const COMMAND_TIMEOUT_MS = 5_000;

/** Why tmux tests cannot run here, or undefined if they can: pass it as the test's `skip`. */
export const tmuxMissing: string | undefined = (() => {
  const probe = spawnSync(TMUX, ['-V'], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  return probe.status === 0
    ? undefined
    : 'tmux is not installed (apt-get install tmux): terminal tests skipped';
})();

/** Quote for a POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A shell command line that runs the built socklab bin with `args`, then prints `EXIT=<status>`. */
export function socklabCommand(args: readonly string[], redirect = ''): string {
  const line = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
  return `${line}${redirect ? ` ${redirect}` : ''}; echo EXIT=$?`;
}

export type ScreenPattern = string | RegExp | ((screen: string) => boolean);

export interface Terminal {
  /** The tmux socket name (`tmux -L NAME`). */
  readonly name: string;
  /** Type text literally (no key names are interpreted). */
  type(text: string): Promise<void>;
  /** Press keys by tmux name: `Enter`, `C-d`, `C-c`, `Up`, `BSpace`… */
  keys(...keys: string[]): Promise<void>;
  /** Type a shell command line and press Enter. */
  run(commandLine: string): Promise<void>;
  /** The visible screen, rows joined with `\n` (tmux trims trailing spaces). */
  capture(): Promise<string>;
  /**
   * Poll the screen until it contains the text, matches the pattern or satisfies the predicate;
   * resolves with that screen, rejects after timeoutMs showing the last one.
   */
  waitForScreen(pattern: ScreenPattern, timeoutMs?: number): Promise<string>;
  /** Wait for `EXIT=<n>` (see socklabCommand) and return n. */
  waitForExit(timeoutMs?: number): Promise<number>;
  /** The pane's title (a program can set it with an escape sequence). */
  paneTitle(): Promise<string>;
  /** Kill this tmux server (and the shell and programs in it). */
  kill(): Promise<void>;
}

export interface TerminalOptions {
  readonly cols?: number;
  readonly rows?: number;
}

/**
 * Start a private tmux server with a shell in a detached pane, UTF-8 (LANG=C.UTF-8) so accented
 * letters show as themselves. Killed when the test ends.
 */
export async function startTerminal(t: TestContext, options: TerminalOptions = {}): Promise<Terminal> {
  const name = `socklab-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmux = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(TMUX, ['-L', name, ...args], {
      encoding: 'utf8',
      timeout: COMMAND_TIMEOUT_MS,
      env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
    });
    return stdout;
  };
  // A shell without rc files or history file, with a short prompt: what is on screen is ours.
  const shell = `env LANG=C.UTF-8 LC_ALL=C.UTF-8 HISTFILE=/dev/null PS1='$ ' bash --norc --noprofile -i`;
  // -u: treat the pane as UTF-8 whatever the environment of the tmux server says.
  await tmux(
    '-u',
    '-f',
    '/dev/null',
    'new-session',
    '-d',
    '-x',
    String(options.cols ?? 120),
    '-y',
    String(options.rows ?? 30),
    '-c',
    REPO_ROOT,
    shell,
  );
  // kill-server leaves the socket file behind: remember where it is to remove it too.
  const socketPath = (await tmux('display-message', '-p', '#{socket_path}')).trim();
  let killed = false;
  const kill = async () => {
    if (killed) return;
    killed = true;
    await tmux('kill-server').catch(() => undefined); // already gone: nothing to stop
    if (socketPath.includes(name)) await rm(socketPath, { force: true });
  };
  t.after(kill);

  // The rows as shown (a long line wraps onto the next row, as the user sees it); blank rows at
  // the bottom dropped.
  const capture = async () => (await tmux('capture-pane', '-p')).replace(/\n+$/, '');
  const waitForScreen = async (pattern: ScreenPattern, timeoutMs = DEFAULT_WAIT_MS): Promise<string> => {
    const matches = (screen: string) =>
      typeof pattern === 'string'
        ? screen.includes(pattern)
        : typeof pattern === 'function'
          ? pattern(screen)
          : pattern.test(screen);
    const what = typeof pattern === 'function' ? 'the expected screen' : String(pattern);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = await capture();
      if (matches(screen)) return screen;
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the screen:\n${screen}`);
      }
      await sleep(POLL_INTERVAL_MS);
    }
  };
  const terminal: Terminal = {
    name,
    type: async (text) => void (await tmux('send-keys', '-l', '--', text)),
    keys: async (...keys) => void (await tmux('send-keys', ...keys)),
    run: async (commandLine) => {
      await tmux('send-keys', '-l', '--', commandLine);
      await tmux('send-keys', 'Enter');
    },
    capture,
    waitForScreen,
    waitForExit: async (timeoutMs) => {
      const screen = await waitForScreen(/EXIT=\d+/, timeoutMs);
      return Number(/EXIT=(\d+)/.exec(screen)?.[1]);
    },
    paneTitle: async () => (await tmux('display-message', '-p', '#{pane_title}')).trimEnd(),
    kill,
  };
  await waitForScreen('$');
  return terminal;
}
