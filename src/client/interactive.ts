/**
 * The interactive prompt of `socklab connect` when stdin is a terminal: node:readline gives line
 * editing and history (arrow keys, Ctrl-A/E/W…); replies are printed above the line being typed,
 * which is then redrawn, so an answer arriving mid-typing never garbles the input.
 *
 * The prompt is drawn on a terminal only: stdout if it is one, else stderr if that is one (so
 * `socklab connect HOST:PORT > reply.bin` keeps the file free of prompts and cursor moves), else
 * nowhere (lines are then read in the terminal's own cooked mode, which echoes what is typed).
 */
import { clearScreenDown, createInterface, cursorTo, moveCursor } from 'node:readline';
import type { Writable } from 'node:stream';
import { isSocklabError } from '../errors.js';
import type { SessionIo as Io } from './io.js';
import type { ClientOutput } from './output.js';

export interface Received {
  readonly data: Buffer;
  readonly from: string;
}

export interface InteractiveSession {
  send(data: Buffer): Promise<void>;
  /** The next thing received, or null once the peer has closed. Never called twice at once. */
  nextReply(): Promise<Received | null>;
  /**
   * Ctrl-D: tell the peer we are done (TCP: half-close). What still comes is shown until the peer
   * closes, or until nothing has come for `lingerMs`.
   */
  leave(): Promise<void>;
  /** After Ctrl-D, stop waiting once nothing has been received for this long. */
  readonly lingerMs: number;
  /** Replies are messages (UDP datagrams): each on its own line even when stdout is a file. */
  readonly datagrams: boolean;
  /** Appended to each line typed. */
  readonly eol: string;
  readonly out: ClientOutput;
  readonly prompt: string;
}

const HISTORY_SIZE = 1000;

type Status = 'open' | 'eof' | 'interrupted' | 'peer-closed' | 'failed';

/** Where the prompt and the line being edited are drawn, if anywhere. */
function pickScreen(io: Io): Writable | undefined {
  if (io.stdout.isTTY === true) return io.stdout;
  if (io.stderr.isTTY === true) return io.stderr;
  return undefined;
}

/** Runs until Ctrl-D (0), Ctrl-C (130), the peer closing (0) or a failure (thrown). */
export async function runInteractive(io: Io, session: InteractiveSession): Promise<number> {
  const screen = pickScreen(io);
  const rl = screen
    ? createInterface({
        input: io.stdin,
        output: screen,
        terminal: true,
        historySize: HISTORY_SIZE,
        prompt: session.prompt,
      })
    : createInterface({ input: io.stdin, terminal: false });
  const repliesOnScreen = screen === io.stdout;
  // On the terminal each reply gets its own line so the prompt can be redrawn under it; into a
  // file a TCP stream goes byte for byte.
  const whole = repliesOnScreen || session.datagrams;

  // Changed by the event handlers below; declared wide so the checks after `await` are not narrowed.
  let status = 'open' as Status;
  let prompting = screen !== undefined;
  let failure: Error | undefined;
  /** Set once runInteractive is returning: whatever the reader gets after that is not shown. */
  let finished = false;
  let onReceived: () => void = () => undefined;
  let sending: Promise<void> = Promise.resolve();
  const closed = new Promise<void>((resolve) => rl.once('close', resolve));

  /** Erase the prompt and the typed text (which may wrap), leaving the cursor where it started. */
  const erasePrompt = (): number => {
    if (!screen || !prompting) return 0;
    const { rows } = rl.getCursorPos();
    moveCursor(screen, 0, -rows);
    cursorTo(screen, 0);
    clearScreenDown(screen);
    return rows;
  };

  const fail = (err: unknown) => {
    failure ??= err instanceof Error ? err : new Error(String(err));
    if (status !== 'open') return;
    status = 'failed';
    // The error is printed by the caller on its own line, in place of the prompt.
    erasePrompt();
    rl.close();
  };

  const interrupt = (typed: boolean) => {
    if (status !== 'open') {
      if (status === 'eof') status = 'interrupted'; // a signal while leaving: stop waiting
      return;
    }
    status = 'interrupted';
    if (screen) {
      // Ctrl-E first, so a newline does not split a wrapped line the cursor is in the middle of.
      rl.write(null, { ctrl: true, name: 'e' });
      screen.write(typed ? '^C\n' : '\n');
    }
    rl.close();
  };

  rl.on('line', (line) => {
    const data = Buffer.from(line + session.eol);
    // Sends go out in the order typed, one at a time.
    sending = sending.then(() => session.send(data)).catch(fail);
    if (screen) rl.prompt();
  });
  // In raw mode Ctrl-C is a key, not a signal: readline reports it here.
  rl.on('SIGINT', () => interrupt(true));
  rl.on('close', () => {
    prompting = false;
    if (status === 'open') status = 'eof';
  });
  // SIGTERM, or SIGINT when no prompt is drawn (cooked mode): main aborts io.signal.
  const onAbort = () => interrupt(false);
  io.signal.addEventListener('abort', onAbort, { once: true });

  const show = async (r: Received) => {
    if (!repliesOnScreen || !prompting) {
      await session.out.received(r.data, { from: r.from, whole });
      return;
    }
    // readline redraws from `prevRows` rows above the cursor, where it believes the prompt starts.
    // It does not update that count for pasted text (or text typed faster than it reads), so
    // it can differ from the real geometry: erase by the real one, then leave readline as many
    // fresh rows under the reply as it will move up. prevRows is undocumented (but as old as
    // readline); without it, assume it is right.
    const believed = (rl as unknown as { prevRows?: unknown }).prevRows;
    const rows = erasePrompt();
    await session.out.received(r.data, { from: r.from, whole });
    const up = typeof believed === 'number' ? believed : rows;
    if (up > 0) screen?.write('\n'.repeat(up));
    rl.prompt(true);
  };

  const peerClosed = () => {
    if (status !== 'open') {
      session.out.note('the server closed the connection', { event: 'close', by: 'server' });
      return;
    }
    status = 'peer-closed';
    erasePrompt();
    io.stderr.write('connection closed by the server\n');
    rl.close();
  };

  if (screen) rl.prompt();

  // The only reader: replies are shown as they come, during the prompt and after Ctrl-D.
  const reading = (async () => {
    try {
      for (;;) {
        const r = await session.nextReply();
        if (finished) return;
        if (r === null) return peerClosed();
        await show(r);
        onReceived();
      }
    } catch (err) {
      if (finished || status === 'interrupted') return;
      if (isSocklabError(err, 'SOCKLAB_ERR_ABORTED') && io.signal.aborted) return;
      fail(err);
    }
  })();

  await closed;
  try {
    if (status === 'eof') {
      // Ctrl-D left the cursor after the prompt: whatever comes next starts on a line of its own.
      screen?.write('\n');
      await leave();
    }
  } finally {
    finished = true;
    io.signal.removeEventListener('abort', onAbort);
  }
  if (status === 'interrupted') return 130;
  if (failure !== undefined) throw failure;
  return 0;

  /** After Ctrl-D: the lines still being sent, then the goodbye, then what the peer still says. */
  async function leave(): Promise<void> {
    const stopped = untilAborted(io.signal);
    try {
      await Promise.race([sending, stopped.promise]);
      if (io.signal.aborted || failure !== undefined) return;
      await Promise.race([session.leave().catch(fail), stopped.promise]);
      if (io.signal.aborted || failure !== undefined) return;
      let timer: NodeJS.Timeout | undefined;
      const quiet = new Promise<'quiet'>((resolve) => {
        timer = setTimeout(() => resolve('quiet'), session.lingerMs);
        // Each reply restarts the wait: a server still talking is not idle.
        onReceived = () => timer?.refresh();
      });
      const why = await Promise.race([reading.then(() => 'done' as const), quiet, stopped.promise]);
      clearTimeout(timer);
      if (why === 'quiet') {
        session.out.note(`nothing received for ${session.lingerMs} ms after leaving: closing`, {
          event: 'idle',
        });
      }
    } finally {
      stopped.dispose();
    }
  }
}

/** A promise that resolves when `signal` aborts, and a way to stop listening. */
function untilAborted(signal: AbortSignal): { promise: Promise<'aborted'>; dispose: () => void } {
  let dispose = () => undefined as void;
  const promise = new Promise<'aborted'>((resolve) => {
    if (signal.aborted) return resolve('aborted');
    const onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  return { promise, dispose };
}
