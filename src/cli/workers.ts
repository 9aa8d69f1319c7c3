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
 */
import cluster, { type Worker } from 'node:cluster';
import type { Io } from './io.js';
import { formatSummary, sumTotals, type ServerTotals } from './server-summary.js';

/** Messages from a worker to the primary. */
export type WorkerMessage =
  | { readonly type: 'socklab:listening'; readonly where: readonly string[] }
  | { readonly type: 'socklab:summary'; readonly totals: readonly ServerTotals[] };
/** The primary's message to a worker. */
const STOP = 'socklab:stop';

export const isWorker = cluster.isWorker;

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

/** In a worker: a signal aborted when the primary asks this worker to stop. */
export function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const onMessage = (message: unknown) => {
    if (message === STOP) controller.abort();
  };
  process.on('message', onMessage);
  process.once('disconnect', () => controller.abort()); // the primary is gone
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

  let exitedCount = 0;
  let resolveExited: () => void = () => undefined;
  const allExited = new Promise<void>((resolve) => (resolveExited = resolve));
  const settle = () => {
    if (stopping && exitedCount === workers.length) resolveExited();
  };
  const stopAll = () => {
    stopping = true;
    for (const w of workers) if (w.isConnected()) w.send(STOP);
    settle();
  };

  // The first worker starts alone: if it cannot listen, it says why once, and no others start.
  const fork = (n: number) => {
    const worker = cluster.fork({ SOCKLAB_WORKER: String(n) });
    workers.push(worker);
    let serving = false;
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'socklab:listening') {
        serving = true;
        listening += 1;
        if (stopping) worker.send(STOP); // asked to stop before it could hear it
        if (n === 1) for (let i = 2; i <= options.workers && !stopping; i++) fork(i);
        if (listening === options.workers) {
          for (const where of message.where) io.stderr.write(`listening on ${where}\n`);
          io.stderr.write(
            `${options.workers} workers (pids ${workers.map((w) => w.process.pid).join(' ')})\n`,
          );
        }
      } else if (message.type === 'socklab:summary') {
        summaries.push([...message.totals]);
      }
    });
    worker.on('exit', (code, signal) => {
      exitedCount += 1;
      if (!stopping) {
        // A worker that ends itself (Ctrl-C reaches the whole process group, or it was sent a
        // signal on its own) leaves with 0, 130 or 143: only other endings are failures.
        if (code !== 0 && code !== 130 && code !== 143 && !io.signal.aborted) {
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
    await allExited;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
  }
  if (options.summary) for (const t of sumTotals(summaries)) io.stderr.write(`${formatSummary(t)}\n`);
  return failed ? 1 : 0;
}
