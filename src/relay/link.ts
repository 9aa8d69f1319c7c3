/**
 * A link: what the relay keeps per TCP connection (client socket + upstream socket) or per UDP
 * flow (a client address + its own upstream socket), with two pipelines between them.
 *
 * TCP: bytes flow both ways with backpressure (a pipeline that is full pauses the socket it reads
 * from); a FIN is forwarded after the data before it (half-close); a reset on one side resets the
 * other after the data read before it, as on a real path (through the faults; then once the peer's
 * kernel has acknowledged it, as a reset throws away what is not sent; at most RESET_LINGER_MS
 * without progress); the link is gone when both sockets are closed.
 * UDP: each client address gets its own connected upstream socket, so replies go back to the right
 * client; the relay expires flows that have been idle.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import type net from 'node:net';
import type { Endpoint, Transport } from '../address.js';
import { formatAddress, formatHostPort } from '../address.js';
import { dialStream } from '../core/connect.js';
import { openDatagramSocket, type DatagramSender, type DatagramSocket } from '../core/datagram.js';
import { adoptWithOnRead } from '../core/onread.js';
import { openUnixDatagramSocket } from '../core/unix-datagram.js';
import type { TlsClientOptions } from '../core/tls.js';
import type { PooledReader, ReadPool } from '../core/read-pool.js';
import { datagramType } from '../core/resolve.js';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';
import type { Clock } from '../measure/clock.js';
import { directionsOf, type Fault } from '../impair/fault.js';
import { FAULT_TYPES } from '../impair/faults/index.js';
import { Pipeline, type MemoryBudget, type PipelineSink } from '../impair/pipeline.js';
import type { Random } from '../impair/random.js';
import type { Counters, Direction, EndAction } from '../impair/stage.js';

/** What a link needs from its relay. */
export interface LinkEnv {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  /** The resolved target (an IP literal). */
  readonly target: Endpoint;
  readonly counters: Readonly<Record<Direction, Counters>>;
  readonly maxBufferedBytes: number;
  readonly maxBufferedPackets: number;
  /** Shared by every pipeline of the relay. */
  readonly budget: MemoryBudget;
  /** TCP: how long the upstream has to accept a connection. */
  readonly connectTimeoutMs: number;
  /** TCP: TLS to the target (a tls:// upstream). */
  readonly targetTls?: TlsClientOptions;
  /** TCP: the relay listens on this Unix socket (its clients have no address: they are named by it). */
  readonly listenPath?: string;
  /** TCP: what the links read into (held chunks are views on it, not fresh Buffers). */
  readonly readPool: ReadPool;
  faults(): readonly Fault[];
  onUpstreamError(link: Link, error: SocklabError): void;
  /** The relay is out of file descriptors (EMFILE, ENFILE): the link could not open its socket. */
  onNoDescriptors(link: Link, code: string): void;
  onClosed(link: Link): void;
}

/** How long a TCP pair closed by a fault (limit-data) waits for its peers' FIN before destroying. */
export const CLOSE_LINGER_MS = 2000;

/**
 * A side reset: what was read from it before still goes to the other side (at the faults' pace),
 * then that side is reset. If the other side takes none of it for this long, it is reset at once.
 */
export const RESET_LINGER_MS = 2000;

/**
 * How much a TCP socket of the relay buffers before `write()` says it is full (Node's default is
 * 16 KiB, less than one 64 KiB chunk). The release queue corks the socket and writes every packet
 * that is due; with room for 16 of them, they go out in one `writev()` instead of one each.
 */
const WRITE_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Writes handed to a TCP socket and not yet done, at most, per socket. Node counts its write buffer
 * in bytes only: 1 MiB of 1-byte segments (`--slice 1`) would be a million write requests, some
 * 150 MB of heap. Past this many the sink says it is full, and it has room again once half are done.
 * A 64 KiB chunk is one write; slices of 1400 bytes fill the 1 MiB before this.
 */
export const MAX_WRITES_IN_FLIGHT = 1024;

export abstract class Link {
  readonly id: number;
  /** The client: `127.0.0.1:5555`. */
  readonly peer: string;
  readonly openedMs: number;
  readonly up: Pipeline;
  readonly down: Pipeline;
  protected readonly env: LinkEnv;
  /** Fault name → whether it applies to this link (its probability, drawn once). */
  readonly #applies = new Map<string, boolean>();
  #updates = 0;
  #finished = false;

  constructor(env: LinkEnv, id: number, peer: string) {
    this.env = env;
    this.id = id;
    this.peer = peer;
    this.openedMs = env.clock.now();
    // The sinks call the subclass's methods when the data comes, not now.
    const sink = (direction: Direction): PipelineSink => ({
      write: (data) => this.sinkWrite(direction, data),
      end: (action) => this.sinkEnd(direction, action),
      reset: () => this.sinkReset(),
      discard: (data) => this.sinkDiscard(data),
      cork: () => this.sinkCork(direction, true),
      uncork: () => this.sinkCork(direction, false),
    });
    const make = (direction: Direction) =>
      new Pipeline({
        transport: env.transport,
        direction,
        clock: env.clock,
        sink: sink(direction),
        counters: env.counters[direction],
        maxBufferedBytes: env.maxBufferedBytes,
        maxBufferedPackets: env.maxBufferedPackets,
        budget: env.budget,
        onWritable: () => this.resumeSource(direction),
      });
    this.up = make('up');
    this.down = make('down');
    for (const fault of env.faults()) this.addFault(fault);
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** The source feeding `direction` may be read again. */
  protected abstract resumeSource(direction: Direction): void;
  /** Write to the socket `direction` goes to; false when it is full. */
  protected abstract sinkWrite(direction: Direction, data: Buffer): boolean;
  /** The stream in `direction` ended (after its data): end, close or reset. */
  protected abstract sinkEnd(direction: Direction, action: EndAction): void;
  protected abstract sinkReset(): void;
  /** Bytes the pipeline will never write (TCP: back to the read pool). */
  protected sinkDiscard(_data: Buffer): void {
    // Datagrams are not pooled.
  }
  /** Hold the writes to `direction`'s socket until uncorked (TCP: one `writev()` for them). */
  protected sinkCork(_direction: Direction, _cork: boolean): void {
    // Datagrams are batched by their own socket (core/datagram.ts).
  }

  /** Close everything now. */
  abstract destroy(): void;

  pipeline(direction: Direction): Pipeline {
    return direction === 'up' ? this.up : this.down;
  }

  /** Put a fault's stages in, if its probability says it applies to this link. */
  addFault(fault: Fault): void {
    if (this.#finished) return;
    const type = FAULT_TYPES[fault.type];
    if (!type) return;
    let applies = this.#applies.get(fault.name);
    if (applies === undefined) {
      applies =
        fault.probability >= 1 ||
        this.env.random.fork(`${this.id}/${fault.name}/probability`).next() < fault.probability;
      this.#applies.set(fault.name, applies);
    }
    if (!applies) return;
    for (const direction of directionsOf(fault.direction)) {
      const random = this.env.random.fork(`${this.id}/${direction}/${fault.name}`);
      this.pipeline(direction).add(fault.name, type.rank, type.create(fault.params), random);
    }
  }

  updateFault(fault: Fault): void {
    const type = FAULT_TYPES[fault.type];
    if (!type || this.#finished) return;
    for (const direction of directionsOf(fault.direction)) {
      const random = this.env.random.fork(`${this.id}/${direction}/${fault.name}/${++this.#updates}`);
      this.pipeline(direction).update(fault.name, fault.params, () => type.create(fault.params), random);
    }
  }

  removeFault(name: string): void {
    this.#applies.delete(name);
    this.up.remove(name);
    this.down.remove(name);
  }

  /** Nothing waiting in either direction. */
  get idle(): boolean {
    return this.up.idle && this.down.idle;
  }

  protected finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.up.close();
    this.down.close();
    this.env.onClosed(this);
  }
}

/**
 * How /proc/net/tcp names an address: the IPv4 address as one host-order word and the port,
 * `0100007F:1F90`; IPv6 (tcp6) as four host-order words. Undefined if it is not an IP literal.
 */
export function procAddress(ip: string, port: number): string | undefined {
  let bytes: number[];
  if (isIPv4(ip)) {
    bytes = ip.split('.').map(Number);
  } else if (isIPv6(ip)) {
    let text = ip.replace(/%.*$/, '');
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
    if (v4 !== undefined) {
      const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
      text = `${text.slice(0, -v4.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    }
    const [head = '', tail] = text.split('::') as [string, string | undefined];
    const left = head === '' ? [] : head.split(':');
    const right = tail === undefined || tail === '' ? [] : tail.split(':');
    const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
    bytes = groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
  } else {
    return undefined;
  }
  let words = '';
  for (let i = 0; i < bytes.length; i += 4) {
    for (let j = 3; j >= 0; j--) words += bytes[i + j]!.toString(16).padStart(2, '0');
  }
  return `${words.toUpperCase()}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Bytes the kernel holds for a connected TCP socket, not yet acknowledged by the peer (Linux:
 * /proc/net/tcp's tx_queue; on loopback, what has not reached the peer's receive buffer).
 * Undefined where that cannot be known (another system, or the socket is not listed).
 */
export async function unacknowledgedBytes(socket: net.Socket): Promise<number | undefined> {
  if (process.platform !== 'linux') return undefined;
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (localAddress === undefined || localPort === undefined) return undefined;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  const local = procAddress(localAddress, localPort);
  const remote = procAddress(remoteAddress, remotePort);
  if (local === undefined || remote === undefined) return undefined;
  let table: string;
  try {
    table = await readFile(local.length > 13 ? '/proc/net/tcp6' : '/proc/net/tcp', 'latin1');
  } catch {
    return undefined;
  }
  const key = ` ${local} ${remote} `;
  const at = table.indexOf(key);
  if (at < 0) return undefined;
  // `sl local remote st tx_queue:rx_queue …`
  const fields = /^[0-9A-F]{2} ([0-9A-F]{8}):/.exec(table.slice(at + key.length, at + key.length + 12));
  return fields ? parseInt(fields[1]!, 16) : undefined;
}

function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.readyState !== 'open') socket.destroy();
  else socket.resetAndDestroy();
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** The process (EMFILE) or the system (ENFILE) has no file descriptor left: not the target's fault. */
export const NO_DESCRIPTOR_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE']);

/** EMFILE or ENFILE, if that is why `err` (or what caused it) happened. */
export function noDescriptorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = systemCode(e);
    if (code !== undefined && NO_DESCRIPTOR_CODES.has(code)) return code;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

export class TcpLink extends Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  #connected = false;
  #closing = false;
  #clientClosed = false;
  #upstreamClosed = false;
  #linger: NodeJS.Timeout | undefined;
  readonly #pool: ReadPool;
  /** Per direction: writes not yet done, and whether the pipeline was told the sink is full for it. */
  readonly #inFlight: Record<Direction, number> = { up: 0, down: 0 };
  readonly #tooMany: Record<Direction, boolean> = { up: false, down: false };
  /** Writes done, for the reset's watchdog. */
  #writesDone = 0;
  /** A side was reset: the direction that still carries what was read from it, then resets. */
  #resetAfter: Direction | undefined;
  /** That direction's end reached its socket: reset once its writes are done and delivered. */
  #resetArmed = false;
  #resetWatch: NodeJS.Timeout | undefined;
  #deliveryPoll: NodeJS.Timeout | undefined;
  bytesUp = 0;
  bytesDown = 0;
  /** Why the link ended, if not by a clean close on both sides. */
  error: string | undefined;

  /** `accepted`: paused since accept (the server has `pauseOnConnect`), nothing read yet. */
  constructor(env: LinkEnv, id: number, accepted: net.Socket) {
    super(
      env,
      id,
      env.listenPath !== undefined
        ? `unix:${env.listenPath}#${id}`
        : formatHostPort(accepted.remoteAddress ?? '?', accepted.remotePort ?? 0),
    );
    this.#pool = env.readPool;
    // Both sockets read into the relay's pool; each read's chunk goes to its direction's pipeline.
    // TLS sockets cannot: Node decrypts into Buffers of its own, handed over by 'data' events.
    const upReader = this.#pool.reader((chunk) => this.#onChunk('up', chunk));
    const downReader = this.#pool.reader((chunk) => this.#onChunk('down', chunk));
    const clientTls = 'encrypted' in accepted;
    if (clientTls) accepted.pause(); // read once the upstream is there, as pauseOnConnect does
    this.client =
      (clientTls ? undefined : adoptWithOnRead(accepted, upReader, WRITE_HIGH_WATER_BYTES)) ??
      this.#readByEvents(accepted, 'up');
    if (env.listenPath === undefined) this.client.setNoDelay(true);
    const target = env.target;
    const { socket, connected } = dialStream({
      host: target.host,
      port: target.port,
      ...(target.path !== undefined ? { path: target.path } : {}),
      ...(env.targetTls !== undefined ? { tls: env.targetTls } : {}),
      allowHalfOpen: true,
      timeoutMs: env.connectTimeoutMs,
      writableHighWaterMark: WRITE_HIGH_WATER_BYTES,
      ...(env.targetTls === undefined ? { onread: downReader } : {}),
    });
    this.upstream = env.targetTls !== undefined ? this.#readByEvents(socket, 'down') : socket;
    connected.then(
      () => this.#onConnect(),
      (err: SocklabError) => this.#onConnectFailed(err),
    );
    this.client.on('error', (err) => this.#onError('client', err));
    this.upstream.on('error', (err) => this.#onError('upstream', err));
    const closed = (reader: PooledReader) => {
      reader.close();
      this.#onClose();
    };
    this.client.once('close', () => {
      this.#clientClosed = true;
      closed(upReader);
    });
    this.upstream.once('close', () => {
      this.#upstreamClosed = true;
      closed(downReader);
    });
  }

  /** Where Node's internals do not let an accepted socket be re-built with `onread`: 'data' events. */
  #readByEvents(socket: net.Socket, direction: Direction): net.Socket {
    socket.on('data', (chunk: Buffer) => {
      if (!this.#onChunk(direction, chunk)) socket.pause();
    });
    return socket;
  }

  #socket(direction: Direction): net.Socket {
    return direction === 'up' ? this.upstream : this.client;
  }

  /** A read's bytes; false: stop reading until the pipeline has room (`resumeSource`). */
  #onChunk(direction: Direction, chunk: Buffer): boolean {
    if (this.#resetAfter !== undefined && direction !== this.#resetAfter) {
      // Toward the side that was reset: nowhere to go. Stop reading.
      this.#pool.release(chunk);
      return false;
    }
    const pipeline = this.pipeline(direction);
    if (this.#closing) {
      pipeline.push(chunk); // closed: counted as truncated, and given back to the pool
      return true;
    }
    if (direction === 'up') this.bytesUp += chunk.length;
    else this.bytesDown += chunk.length;
    return pipeline.push(chunk);
  }

  #onConnect(): void {
    this.#connected = true;
    for (const direction of ['up', 'down'] as const) {
      const source = direction === 'up' ? this.client : this.upstream;
      const pipeline = this.pipeline(direction);
      source.on('end', () => pipeline.end());
      this.#socket(direction).on('drain', () => pipeline.sinkDrained());
    }
    this.client.resume();
  }

  protected resumeSource(direction: Direction): void {
    const source = direction === 'up' ? this.client : this.upstream;
    if (!source.destroyed && !this.#closing && this.#resetAfter === undefined) source.resume();
  }

  protected sinkWrite(direction: Direction, data: Buffer): boolean {
    const socket = this.#socket(direction);
    if (socket.destroyed || socket.writableEnded) {
      this.#pool.release(data);
      return true; // the pair is going away
    }
    // Node calls back once the kernel has the bytes (or the write failed): the memory may be reused.
    const room = socket.write(data, () => this.#written(direction, data));
    if (++this.#inFlight[direction] < MAX_WRITES_IN_FLIGHT) return room;
    this.#tooMany[direction] = true;
    return false;
  }

  #written(direction: Direction, data: Buffer): void {
    this.#pool.release(data);
    this.#writesDone += 1;
    const left = --this.#inFlight[direction];
    if (this.#tooMany[direction] && left <= MAX_WRITES_IN_FLIGHT / 2) {
      this.#tooMany[direction] = false;
      this.pipeline(direction).sinkDrained();
    }
    if (left === 0 && this.#resetArmed && direction === this.#resetAfter) this.#resetWhenDelivered(direction);
  }

  protected override sinkDiscard(data: Buffer): void {
    this.#pool.release(data);
  }

  protected override sinkCork(direction: Direction, cork: boolean): void {
    const socket = this.#socket(direction);
    if (cork) socket.cork();
    else socket.uncork();
  }

  protected sinkEnd(direction: Direction, action: EndAction): void {
    if (action === 'reset' || direction === this.#resetAfter) {
      this.#resetWhenWritten(direction);
      return;
    }
    const socket = this.#socket(direction);
    if (!socket.destroyed && !socket.writableEnded) socket.end();
    if (action === 'close') this.#closePair();
  }

  /** A fault closed the connection: FIN both ways; read and discard until the peers close. */
  #closePair(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.up.close();
    this.down.close();
    for (const socket of [this.client, this.upstream]) {
      if (!socket.destroyed) {
        if (!socket.writableEnded) socket.end();
        socket.resume();
      }
    }
    this.#linger = setTimeout(() => this.destroy(), CLOSE_LINGER_MS);
    this.#linger.unref();
  }

  protected sinkReset(): void {
    this.reset();
  }

  /**
   * The end of `direction` reached its socket and the connection is to be reset: once the kernel
   * has every byte written before (the writes' callbacks), so that the reset does not overtake them.
   */
  #resetWhenWritten(direction: Direction): void {
    if (this.#resetAfter === undefined) {
      this.#resetAfter = direction;
      this.pipeline(direction === 'up' ? 'down' : 'up').close();
    }
    this.#resetArmed = true;
    if (this.#inFlight[direction] === 0) this.#resetWhenDelivered(direction);
    else this.#watchReset();
  }

  /**
   * A reset throws away what the kernel has not sent yet (and the peer then reads an end of
   * stream, not a reset): wait until the peer has acknowledged every byte (Linux: polled from
   * /proc/net/tcp), or until it takes nothing for RESET_LINGER_MS, then reset.
   */
  #resetWhenDelivered(direction: Direction): void {
    if (this.#deliveryPoll !== undefined) return;
    const socket = this.#socket(direction);
    let least = Infinity;
    let since = Date.now();
    const poll = async () => {
      const queued = await unacknowledgedBytes(socket);
      if (socket.destroyed || this.finished) return;
      if (queued === undefined || queued === 0) {
        this.reset();
        return;
      }
      if (queued < least) {
        least = queued;
        since = Date.now();
      } else if (Date.now() - since >= RESET_LINGER_MS) {
        this.reset();
        return;
      }
      this.#deliveryPoll = setTimeout(() => void poll(), 5).unref();
    };
    this.#deliveryPoll = setTimeout(() => void poll(), 0).unref();
  }

  /**
   * A side was reset (or failed with EPIPE): as on a real path, what was read from it before goes
   * on to the other side first, through the faults (a delay still delays it), then that side is
   * reset. Nothing can go toward the side that was reset any more.
   */
  #forwardThenReset(side: 'client' | 'upstream'): void {
    const from: Direction = side === 'client' ? 'up' : 'down';
    if (this.#resetAfter !== undefined || this.#closing) {
      this.reset(); // both sides are gone, or a fault is closing the pair
      return;
    }
    this.#resetAfter = from;
    this.pipeline(from === 'up' ? 'down' : 'up').close();
    const pipeline = this.pipeline(from);
    if (pipeline.finished)
      this.#resetWhenWritten(from); // its end was written already
    else pipeline.end('reset'); // a FIN still queued comes out as the reset (sinkEnd)
    this.#watchReset();
  }

  /** If the other side takes nothing for RESET_LINGER_MS (it does not read), reset it anyway. */
  #watchReset(): void {
    if (this.#resetWatch !== undefined) return;
    let done = this.#writesDone;
    const check = () => {
      const direction = this.#resetAfter!;
      const stuck = this.#inFlight[direction] > 0 && this.#writesDone === done;
      done = this.#writesDone;
      if (stuck) this.reset();
      else this.#resetWatch = setTimeout(check, RESET_LINGER_MS).unref();
    };
    this.#resetWatch = setTimeout(check, RESET_LINGER_MS).unref();
  }

  /** RST both ways. */
  reset(): void {
    this.error ??= 'reset by a fault';
    clearTimeout(this.#resetWatch);
    clearTimeout(this.#deliveryPoll);
    this.up.close();
    this.down.close();
    resetSocket(this.client);
    resetSocket(this.upstream);
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  #onConnectFailed(error: SocklabError): void {
    if (this.client.destroyed) return; // the client left first: nothing to report
    const code = noDescriptorCode(error);
    if (code !== undefined) {
      this.error = `out of file descriptors (${code})`;
      this.env.onNoDescriptors(this, code);
    } else {
      this.error = error.message;
      this.env.onUpstreamError(this, error);
    }
    resetSocket(this.client);
  }

  #onError(side: 'client' | 'upstream', err: Error): void {
    if (side === 'upstream' && !this.#connected) return; // #onConnectFailed says why
    const other = side === 'client' ? this.upstream : this.client;
    this.error ??= `${side} ${describeSystemError(err)}`;
    if (RESET_CODES.has(systemCode(err) ?? '')) this.#forwardThenReset(side);
    else other.destroy();
  }

  #onClose(): void {
    if (this.#clientClosed && this.#upstreamClosed) {
      clearTimeout(this.#linger);
      clearTimeout(this.#resetWatch);
      clearTimeout(this.#deliveryPoll);
      this.finish();
      return;
    }
    // One side is gone. If it went away in error, the error handler has dealt with the other side.
    // If it closed cleanly, both directions toward it were finished; the other side finishes on its own,
    // unless it never connected.
    if (this.#clientClosed && !this.#connected) this.upstream.destroy();
  }
}

export class UdpFlow extends Link {
  readonly socket: DatagramSocket;
  /** How the relay's listening socket names this client (its flow table key). */
  readonly key: number | string;
  readonly client: DatagramSender;
  lastActivityMs: number;
  #connected = false;
  #pending: Buffer[] = [];
  #reported = false;
  #closed = false;

  readonly #listen: DatagramSocket;

  constructor(
    env: LinkEnv,
    id: number,
    listen: DatagramSocket,
    client: DatagramSender,
    key: number | string,
  ) {
    super(env, id, formatHostPort(client.address, client.port));
    this.#listen = listen;
    this.client = client;
    this.key = key;
    this.lastActivityMs = this.openedMs;
    const target = env.target;
    this.socket =
      target.path !== undefined
        ? openUnixDatagramSocket() // connect() gives it an abstract address: the target can answer
        : openDatagramSocket({ type: datagramType(target.host) });
    this.socket.onError((err) => this.#onError(err));
    this.socket.onMessage((msg) => {
      this.lastActivityMs = this.env.clock.now();
      this.down.push(msg);
    });
    this.socket.connect(target.path ?? target.host, target.port).then(
      () => {
        if (this.#closed) return;
        this.#connected = true;
        const pending = this.#pending;
        this.#pending = [];
        for (const data of pending) this.socket.send(data);
        this.up.sinkDrained();
      },
      (err: Error) => this.#onError(err),
    );
  }

  /** A datagram from the client. */
  receive(data: Buffer): void {
    this.lastActivityMs = this.env.clock.now();
    this.up.push(data);
  }

  protected sinkWrite(direction: Direction, data: Buffer): boolean {
    if (direction === 'down') {
      this.#listen.sendTo(data, this.client);
      return true;
    }
    if (this.#closed) return true;
    if (!this.#connected) {
      this.#pending.push(data);
      return false;
    }
    this.socket.send(data);
    return true;
  }

  protected sinkEnd(): void {
    // A datagram flow has no end to forward.
  }

  protected sinkReset(): void {
    // Nor a reset.
  }

  protected resumeSource(): void {
    // UDP has no backpressure: nothing to resume.
  }

  #onError(err: Error): void {
    if (this.#closed) return;
    const code = noDescriptorCode(err);
    if (code !== undefined && !this.#connected) {
      // No socket for this flow (node:dgram opens it late): it goes, the next datagram tries again.
      this.env.onNoDescriptors(this, code);
      this.destroy();
      return;
    }
    // An ICMP "port unreachable" comes back as ECONNREFUSED on a connected socket. The flow stays:
    // the target may come up.
    if (this.#reported) return;
    this.#reported = true;
    const why = describeSystemError(err);
    this.env.onUpstreamError(
      this,
      new SocklabError(
        'SOCKLAB_ERR_SOCKET',
        `cannot reach ${formatAddress(this.env.target)} for ${this.peer}: ${why}`,
        {
          cause: err,
        },
      ),
    );
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.finish();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
