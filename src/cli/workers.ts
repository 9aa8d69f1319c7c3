/**
 * `listen --workers N`: the same server in N processes, with Node's cluster module.
 *
 * TCP: the primary process owns the listening socket and hands each accepted connection to the
 * next worker in turn (cluster's round-robin), so connections spread evenly over the cores; a
 * connection stays in its worker for its whole life.
 * UDP: every worker reads the one shared socket and the kernel gives each datagram to whichever
 * worker is waiting: datagrams spread over the workers, replies leave from the same port, but the
 * datagrams of one sender are no longer handled in order, and `{n}` counts per worker.
 *
 * The primary prints the "listening on" lines once every worker listens, stops the workers on
 * Ctrl-C/SIGTERM (a message, not a signal, so none is cut short), and prints the summed summary.
 * Signals are the primary's alone: Ctrl-C in a terminal reaches every process of the foreground
 * process group, workers too, so a worker ignores SIGINT and SIGTERM (main.ts) and stops only when
 * the primary tells it to, or when the primary goes away. Either side's end of the channel may
 * fail while the other starts or stops (EPIPE): that is an ending, never a crash.
 */
import cluster, { type Worker } from 'node:cluster';
import { constants as osConstants } from 'node:os';
import { describeSystemError } from '../errors.js';
import type { Io } from './io.js';
import { formatSummary, sumTotals, type ServerTotals } from './server-summary.js';

/** Messages from a worker to the primary. */
export type WorkerMessage =
  | { readonly type: 'socklab:listening'; readonly where: readonly string[] }
  | { readonly type: 'socklab:summary'; readonly totals: readonly ServerTotals[] };
/** The primary's message to a worker. */
const STOP = 'socklab:stop';

/** This process is a worker: forked with SOCKLAB_WORKER=n (main.ts knows it by that and its channel). */
export const isWorker = cluster.isWorker;

/** The channel between primary and worker is gone or going (the other process has exited). */
function isChannelError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    code === 'EPIPE' ||
    code === 'ECONNRESET' ||
    code === 'ERR_IPC_CHANNEL_CLOSED' ||
    code === 'ERR_IPC_DISCONNECTED'
  );
}

/** In a worker: tell the primary something (resolves once it is written to the channel). */
export function tellPrimary(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** In a worker, when done: close the channel to the primary, which would keep this process alive. */
export function leavePrimary(): void {
  if (process.connected) process.disconnect();
}

/**
 * In a worker: a signal aborted when the primary asks this worker to stop, or goes away.
 * A message that cluster sends on its own (a server closing) to a primary that has just exited
 * (a second Ctrl-C) fails with EPIPE, emitted on this worker's cluster.worker: not a crash, this
 * worker stops (if it is not already stopping).
 */
export function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const onMessage = (message: unknown) => {
    if (message === STOP) controller.abort();
  };
  process.on('message', onMessage);
  process.once('disconnect', () => controller.abort()); // the primary is gone
  cluster.worker?.on('error', (err: unknown) => {
    if (!isChannelError(err)) throw err;
    controller.abort();
  });
  return controller.signal;
}

export interface PrimaryOptions {
  readonly workers: number;
  /** Print the summary lines at exit (listen --quiet or -v). */
  readonly summary: boolean;
}

/** In the primary: fork the workers (each runs this same command line), wait, stop, sum up. */
export async function runPrimary(options: PrimaryOptions, io: Io): Promise<number> {
  const workers: Worker[] = [];
  const summaries: ServerTotals[][] = [];
  let listening = 0;
  let failed = false;
  let stopping = false;
  /** The signal that killed a worker before the primary stopped it. */
  let interruptedBy: 'SIGINT' | 'SIGTERM' | undefined;

  /** Workers that have exited (or could not start): the primary ends when all have. */
  let gone = 0;
  let resolveAllGone: () => void = () => undefined;
  const allGone = new Promise<void>((resolve) => (resolveAllGone = resolve));
  const settle = () => {
    if (stopping && gone === workers.length) resolveAllGone();
  };
  // A worker whose channel is closing is stopping already: a failed send is its 'exit' to come.
  const tellStop = (worker: Worker) => {
    if (worker.isConnected()) worker.send(STOP, () => undefined);
  };
  const stopAll = () => {
    stopping = true;
    for (const w of workers) tellStop(w);
    settle();
  };

  // The first worker starts alone: if it cannot listen, it says why once, and no others start.
  const fork = (n: number) => {
    let worker: Worker;
    try {
      worker = cluster.fork({ SOCKLAB_WORKER: String(n) });
    } catch (err) {
      io.stderr.write(`socklab listen: cannot start worker ${n}: ${describeSystemError(err)}\n`);
      failed = true;
      stopAll();
      return;
    }
    workers.push(worker);
    let serving = false;
    /** Listening only once the others were told to stop: with port 0 its port may even differ. */
    let late = false;
    let ended = false;
    const end = (): boolean => {
      if (ended) return false;
      ended = true;
      gone += 1;
      return true;
    };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'socklab:listening') {
        serving = true;
        listening += 1;
        if (stopping) {
          late = true;
          tellStop(worker); // asked to stop before it could hear it
        }
        if (n === 1) for (let i = 2; i <= options.workers && !stopping; i++) fork(i);
        if (listening === options.workers && !stopping) {
          for (const where of message.where) io.stderr.write(`listening on ${where}\n`);
          io.stderr.write(
            `${options.workers} workers (pids ${workers.map((w) => w.process.pid).join(' ')})\n`,
          );
        }
      } else if (message.type === 'socklab:summary') {
        // A late worker served nobody: its summary would only add an address no one was told.
        if (!late) summaries.push([...message.totals]);
      }
    });
    // Cluster's own messages to a worker (the connections it hands over, its replies) fail with
    // EPIPE once that worker has exited, or while it goes: its 'exit' follows. Anything else is
    // said, and stops them all; a worker that could not even start has no 'exit' to wait for.
    worker.on('error', (err: unknown) => {
      if (isChannelError(err)) return;
      io.stderr.write(`socklab listen: worker ${n}: ${describeSystemError(err)}\n`);
      failed = true;
      if (worker.process.pid === undefined) end();
      stopAll();
    });
    worker.on('exit', (code, signal) => {
      if (!end()) return;
      if (!stopping) {
        // A worker killed by SIGINT or SIGTERM (in its first milliseconds, before it ignores
        // them) was sent it with its group, so the primary was too; but the primary's own handler
        // may run after this death, or never (the primary is done first): so the primary ends as
        // interrupted by that signal (130, 143) either way.
        if (signal === 'SIGINT' || signal === 'SIGTERM') interruptedBy ??= signal;
        // Not crashes either: a worker that ends itself (its stdout closed, `| head`), any
        // ending once the primary is interrupted.
        else if (code !== 0 && !io.signal.aborted) {
          failed = true;
          // One that never listened has said why on the shared stderr.
          if (serving)
            io.stderr.write(`socklab listen: worker ${n} exited (${signal ?? `status ${code}`})\n`);
        }
        stopAll(); // one gone, all go
      }
      settle();
    });
  };
  fork(1);

  const onAbort = () => stopAll();
  if (io.signal.aborted) stopAll();
  else io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await allGone;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
  }
  if (options.summary) for (const t of sumTotals(summaries)) io.stderr.write(`${formatSummary(t)}\n`);
  return failed ? 1 : interruptedBy !== undefined ? 128 + osConstants.signals[interruptedBy] : 0;
}
