/**
 * A lane agent: the receiving or the sending end of one lane. It takes AgentRequests and emits
 * AgentEvents (protocol.ts), so the same code runs in this process (`localAgent()`) or in a child
 * that speaks JSON lines on stdio (`agent-main.ts`, `childAgent()`): in `socklab link`'s namespace,
 * the inside end is such a child. Sockets come from src/core/.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectDatagram, connectStream } from '../core/connect.js';
import type { DatagramSocket } from '../core/datagram.js';
import { bindDatagram, listenStream } from '../core/listen.js';
import { describeSystemError, SocklabError } from '../errors.js';
import {
  asReply,
  decodeMessage,
  encodeMessage,
  HEADER_BYTES,
  KIND_REPLY,
  messageLength,
  sharedNow,
} from './message.js';
import { messageCount, type AgentEvent, type AgentRequest, type ReceiveRecord } from './protocol.js';

export type Emit = (event: AgentEvent) => void;

/** How often an agent says how far it got. */
const PROGRESS_EVERY_MS = 200;
/** A UDP bulk sender waits for the socket every this many datagrams (node:dgram queues without end). */
const UDP_BULK_BATCH = 64;
const NO_RANK = 0xffffffff;

function reason(err: unknown): string {
  return err instanceof SocklabError ? err.message : describeSystemError(err);
}

/** Cuts a byte stream into messages (the header says each one's length). */
class StreamCutter {
  #pending: Buffer = Buffer.alloc(0);
  /** Feed bytes; returns the whole messages, or throws when the stream is not ours any more. */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (buf.length >= HEADER_BYTES) {
      const length = messageLength(buf);
      if (length === undefined)
        throw new Error('the stream is out of step: bytes that are not a message header');
      if (buf.length < length) break;
      onMessage(buf.subarray(0, length));
      buf = buf.subarray(length);
    }
    this.#pending = Buffer.from(buf);
  }
}

class Receiver {
  readonly arriveMs: Float64Array;
  readonly stampMs: Float64Array;
  readonly copies: Uint16Array;
  readonly corrupt: Uint16Array;
  readonly arrivalRank: Uint32Array;
  strayCorrupt = 0;
  received = 0;
  ended = false;
  lastArrivalMs = sharedNow();
  #rank = 0;
  #changed: (() => void) | undefined;

  constructor(readonly count: number) {
    this.arriveMs = new Float64Array(count).fill(Number.NaN);
    this.stampMs = new Float64Array(count).fill(Number.NaN);
    this.copies = new Uint16Array(count);
    this.corrupt = new Uint16Array(count);
    this.arrivalRank = new Uint32Array(count).fill(NO_RANK);
  }

  /** One message as the application got it; true if it is intact (worth a reply). */
  take(message: Buffer, nowMs: number): boolean {
    this.lastArrivalMs = nowMs;
    const m = decodeMessage(message);
    if (m === undefined || m.sequence >= this.count) {
      this.strayCorrupt += 1;
      this.#changed?.();
      return false;
    }
    const s = m.sequence;
    if (!m.intact) {
      if (this.corrupt[s]! < 0xffff) this.corrupt[s]! += 1;
    } else {
      if (this.copies[s] === 0) {
        this.arriveMs[s] = nowMs;
        this.stampMs[s] = m.sendMs;
        this.arrivalRank[s] = this.#rank++;
        this.received += 1;
      }
      if (this.copies[s]! < 0xffff) this.copies[s]! += 1;
    }
    this.#changed?.();
    return m.intact;
  }

  end(): void {
    this.ended = true;
    this.#changed?.();
  }

  /** Resolves when everything came, the stream ended, nothing came for quietMs, or timeoutMs passed. */
  async settle(quietMs: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const until = sharedNow() + timeoutMs;
    while (!signal.aborted && !this.ended && this.received < this.count) {
      const now = sharedNow();
      if (now >= until || now - this.lastArrivalMs >= quietMs) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.min(until, this.lastArrivalMs + quietMs) - now));
        this.#changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#changed = undefined;
    }
  }

  record(): ReceiveRecord {
    return {
      arriveMs: this.arriveMs,
      copies: this.copies,
      corrupt: this.corrupt,
      arrivalRank: this.arrivalRank,
      stampMs: this.stampMs,
      strayCorrupt: this.strayCorrupt,
      ended: this.ended,
    };
  }
}

/**
 * The agent proper: requests in, events out. One receive or one send at a time (one lane end);
 * `abort` and `finish` end it.
 */
export class AgentCore {
  readonly #emit: Emit;
  readonly #abort = new AbortController();
  #finish: ((quietMs: number, timeoutMs: number) => void) | undefined;
  #closers: (() => void)[] = [];

  constructor(emit: Emit) {
    this.#emit = emit;
  }

  handle(request: AgentRequest): void {
    switch (request.op) {
      case 'receive':
        this.#run(() => this.#receive(request));
        return;
      case 'send':
        this.#run(() => this.#send(request));
        return;
      case 'finish':
        this.#finish?.(request.quietMs, request.timeoutMs);
        return;
      case 'abort':
        this.#abort.abort(new Error(request.reason));
        return;
    }
  }

  /** Close every socket this agent opened. */
  close(): void {
    this.#abort.abort(new Error('closed'));
    for (const close of this.#closers.splice(0)) close();
  }

  #run(job: () => Promise<void>): void {
    job().catch((err: unknown) => this.#emit({ ev: 'error', message: reason(err) }));
  }

  async #receive(request: Extract<AgentRequest, { op: 'receive' }>): Promise<void> {
    const receiver = new Receiver(request.count);
    let failure: string | undefined;
    const progress = setInterval(
      () => this.#emit({ ev: 'progress', done: receiver.received }),
      PROGRESS_EVERY_MS,
    );
    this.#closers.push(() => clearInterval(progress));
    if (request.transport === 'tcp') {
      let accepted: Socket | undefined;
      const server = await listenStream({
        host: request.host,
        port: 0,
        onConnection: (socket) => {
          if (accepted !== undefined) {
            socket.destroy(); // one lane, one connection
            return;
          }
          accepted = socket;
          this.#closers.push(() => socket.destroy());
          const cutter = new StreamCutter();
          socket.on('data', (chunk: Buffer) => {
            const now = sharedNow();
            try {
              cutter.push(chunk, (message) => {
                if (receiver.take(message, now) && request.reply) socket.write(asReply(message));
              });
            } catch (err) {
              failure = reason(err);
              socket.destroy();
              receiver.end();
            }
          });
          socket.on('end', () => {
            socket.end();
            receiver.end();
          });
          socket.on('error', (err) => {
            failure ??= `the connection failed: ${describeSystemError(err)}`;
            receiver.end();
          });
          socket.on('close', () => receiver.end());
        },
      });
      this.#closers.push(() => server.close());
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no address to listen on');
      this.#emit({ ev: 'ready', host: request.host, port: address.port });
    } else {
      const socket: DatagramSocket = await bindDatagram({ host: request.host, port: 0 });
      this.#closers.push(() => socket.close());
      socket.onMessage((data) => {
        if (receiver.take(data, sharedNow()) && request.reply) socket.sendTo(asReply(data), socket.sender());
      });
      socket.onError(() => undefined); // a reply to a flow the relay closed: nothing to do
      this.#emit({ ev: 'ready', host: request.host, port: socket.address().port });
    }
    const signal = this.#abort.signal;
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      signal.addEventListener('abort', stop, { once: true });
      this.#finish = (quietMs, timeoutMs) => {
        receiver.settle(quietMs, timeoutMs, signal).then(stop, stop);
      };
    });
    clearInterval(progress);
    this.#emit({
      ev: 'received',
      record: receiver.record(),
      ...(failure !== undefined ? { error: failure } : {}),
    });
    this.close();
  }

  async #send(request: Extract<AgentRequest, { op: 'send' }>): Promise<void> {
    const { workload, seed } = request;
    const count = messageCount(workload);
    const sendMs = new Float64Array(count).fill(Number.NaN);
    const rttMs = new Float64Array(workload.kind === 'request' ? count : 0).fill(Number.NaN);
    const signal = this.#abort.signal;
    let sent = 0;
    let failure: string | undefined;
    const progress = setInterval(() => this.#emit({ ev: 'progress', done: sent }), PROGRESS_EVERY_MS);
    this.#closers.push(() => clearInterval(progress));
    const size = workload.sizeBytes;
    // Replies (request/response): the waiter for the one outstanding request.
    let awaiting = -1;
    let answered: (() => void) | undefined;
    const onReply = (message: Buffer) => {
      const m = decodeMessage(message);
      if (m === undefined || !m.intact || m.kind !== KIND_REPLY || m.sequence !== awaiting) return;
      rttMs[m.sequence] = sharedNow() - sendMs[m.sequence]!;
      awaiting = -1;
      answered?.();
    };
    let write: (message: Buffer) => Promise<void> | void;
    let finish: () => Promise<void>;
    try {
      if (request.transport === 'tcp') {
        const socket = await connectStream({
          host: request.host,
          port: request.port,
          signal,
          allowHalfOpen: true,
        });
        this.#closers.push(() => socket.destroy());
        const state: { broken?: Error } = {};
        const brokenNow = (): Error | undefined => state.broken;
        socket.on('error', (err) => {
          state.broken = err;
          answered?.();
        });
        const cutter = new StreamCutter();
        socket.on('data', (chunk: Buffer) => {
          try {
            cutter.push(chunk, onReply);
          } catch (err) {
            state.broken = err as Error;
            socket.destroy();
          }
        });
        socket.on('close', () => {
          state.broken ??= new Error('the connection closed before the end');
          answered?.();
        });
        write = (message) => {
          if (state.broken !== undefined) throw state.broken;
          if (!socket.write(message)) {
            return new Promise<void>((resolve, reject) => {
              const done = () => {
                socket.off('drain', done);
                socket.off('close', done);
                signal.removeEventListener('abort', done);
                if (state.broken !== undefined) reject(state.broken);
                else resolve();
              };
              socket.on('drain', done);
              socket.on('close', done);
              signal.addEventListener('abort', done);
            });
          }
        };
        finish = async () => {
          if (state.broken !== undefined) throw state.broken;
          socket.end();
          // Everything written has left once the receiver's FIN comes back (or the socket closes).
          await new Promise<void>((resolve) => {
            if (socket.readableEnded || socket.destroyed) resolve();
            socket.once('end', resolve);
            socket.once('close', resolve);
            signal.addEventListener('abort', () => resolve(), { once: true });
            socket.resume();
          });
          const failed = brokenNow();
          if (failed !== undefined && !socket.readableEnded) throw failed;
        };
      } else {
        const socket = await connectDatagram({ host: request.host, port: request.port });
        this.#closers.push(() => socket.close());
        socket.onMessage(onReply);
        let refused = 0;
        socket.onError(() => (refused += 1)); // an ICMP error: the datagram is lost, as UDP says
        let batch = 0;
        const unpaced = workload.kind === 'bulk' || (workload.kind === 'paced' && workload.intervalMs < 1);
        write = (message) => {
          batch += 1;
          if (unpaced && batch % UDP_BULK_BATCH === 0) {
            return new Promise<void>((resolve) => socket.send(message, () => setImmediate(resolve)));
          }
          socket.send(message);
        };
        finish = async () => {
          // node:dgram may still hold a few: give them a moment to leave.
          for (let i = 0; i < 100 && socket.queuedSends() > 0 && !signal.aborted; i++) await sleep(5);
        };
      }
      const started = sharedNow() + 1;
      for (let i = 0; i < count && !signal.aborted; i++) {
        if (workload.kind === 'paced') {
          const due = started + i * workload.intervalMs;
          const wait = due - sharedNow();
          if (wait >= 1) await sleep(wait, undefined, { signal }).catch(() => undefined);
          if (signal.aborted) break;
        }
        const now = sharedNow();
        const message = encodeMessage(i, size, seed, now);
        sendMs[i] = now;
        if (workload.kind === 'request') {
          awaiting = i;
          const reply = new Promise<void>((resolve) => (answered = resolve));
          await write(message);
          sent = i + 1;
          // Answered, timed out (lost), or stopped: whichever comes first.
          let timer: NodeJS.Timeout | undefined;
          const stop = () => answered?.();
          signal.addEventListener('abort', stop, { once: true });
          await Promise.race([
            reply,
            new Promise<void>((resolve) => (timer = setTimeout(resolve, request.replyTimeoutMs))),
          ]);
          clearTimeout(timer);
          signal.removeEventListener('abort', stop);
          answered = undefined;
          awaiting = -1;
          continue;
        }
        await write(message);
        sent = i + 1;
      }
      if (!signal.aborted) await finish();
    } catch (err) {
      failure = reason(err);
    }
    clearInterval(progress);
    this.#emit({
      ev: 'sent',
      record: { sendMs, rttMs, sent },
      ...(failure !== undefined ? { error: failure } : {}),
    });
    this.close();
  }
}

/** An agent as the orchestrator holds it, in this process or in a child. */
export interface Agent {
  send(request: AgentRequest): void;
  onEvent(handler: (event: AgentEvent) => void): void;
  /** End it (sockets closed, the child stopped); resolves when it is gone. */
  close(): Promise<void>;
}

/** An agent in this process. Events are delivered on a later tick, as from a child. */
export function localAgent(): Agent {
  let handler: (event: AgentEvent) => void = () => undefined;
  const core = new AgentCore((event) => queueMicrotask(() => handler(event)));
  return {
    send: (request) => core.handle(request),
    onEvent: (h) => (handler = h),
    close: () => {
      core.close();
      return Promise.resolve();
    },
  };
}
