/**
 * The interactive prompt of `socklab connect` when stdin is a terminal: node:readline gives line
 * editing and history (arrow keys, Ctrl-A/E/W…); replies are printed above the line being typed,
 * which is then redrawn, so an answer arriving mid-typing never garbles the input.
 */
import { clearLine, createInterface, cursorTo } from 'node:readline';
import type { Io } from './io.js';
import type { ClientOutput } from './output.js';

export interface InteractiveSession {
  send(data: Buffer): Promise<void>;
  /** The next thing received, or null once the peer has closed. */
  nextReply(): Promise<{ data: Buffer; from: string } | null>;
  /** Ctrl-D: finish politely (half-close, print what is still coming). */
  leave(): Promise<void>;
  /** Appended to each line typed. */
  readonly eol: string;
  readonly out: ClientOutput;
  readonly prompt: string;
}

const HISTORY_SIZE = 1000;

/** Runs until Ctrl-D (0), Ctrl-C (130) or the peer closing (0). */
export async function runInteractive(io: Io, session: InteractiveSession): Promise<number> {
  const rl = createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal: true,
    historySize: HISTORY_SIZE,
    prompt: session.prompt,
  });
  type Status = 'open' | 'eof' | 'interrupted' | 'peer-closed';
  let status = 'open' as Status;
  let sending: Promise<void> = Promise.resolve();
  let failure: unknown;
  const ended = new Promise<void>((resolve) => rl.once('close', resolve));

  rl.on('line', (line) => {
    // Sends go out in the order typed, one at a time.
    sending = sending
      .then(() => session.send(Buffer.from(line + session.eol)))
      .catch((err: unknown) => {
        failure ??= err;
        rl.close();
      });
    rl.prompt();
  });
  rl.on('SIGINT', () => {
    status = 'interrupted';
    rl.close();
  });
  rl.on('close', () => {
    if (status === 'open') status = 'eof';
  });
  const onAbort = () => {
    status = 'interrupted';
    rl.close();
  };
  io.signal.addEventListener('abort', onAbort, { once: true });

  // Replies: print above the prompt, then redraw the prompt and what was typed so far.
  const reading = (async () => {
    try {
      for (let r = await session.nextReply(); r !== null; r = await session.nextReply()) {
        if (status !== 'open') return;
        cursorTo(io.stdout, 0);
        clearLine(io.stdout, 0);
        await session.out.received(r.data, { from: r.from, whole: true });
        rl.prompt(true);
      }
      if (status === 'open') {
        status = 'peer-closed';
        cursorTo(io.stdout, 0);
        clearLine(io.stdout, 0);
        session.out.note('the server closed the connection');
        io.stderr.write('connection closed by the server\n');
        rl.close();
      }
    } catch (err) {
      if (status === 'open') {
        failure ??= err;
        rl.close();
      }
    }
  })();

  rl.prompt();
  await ended;
  io.signal.removeEventListener('abort', onAbort);
  await sending;
  if (failure !== undefined) throw failure;
  const final = status as Status; // set by the handlers above
  if (final === 'interrupted') return 130;
  if (final === 'eof') {
    io.stdout.write('\n');
    await session.leave();
  }
  void reading;
  return 0;
}
