/**
 * createRelay(): a fault-injecting proxy for TCP or UDP, in-process.
 *
 * ```ts
 * const relay = await createRelay({
 *   listen: 'udp://127.0.0.1:0',
 *   upstream: 'udp://127.0.0.1:9090',
 *   faults: [{ type: 'loss', direction: 'up', params: { lossRate: '10%' } }],
 *   seed: 7,
 * });
 * relay.address().port; // where clients go
 * await relay.close();
 * ```
 *
 * Faults can be added, changed and removed while traffic flows; they apply to the connections and
 * flows already open as well as to new ones.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type net from 'node:net';
import { formatAddress, formatHostPort, parseAddress, type Endpoint, type Transport } from '../address.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../core/connect.js';
import type { DatagramSocket } from '../core/datagram.js';
import { bindDatagram, listenStream } from '../core/listen.js';
import { plainAddress, type AccessControl } from '../server/access.js';
import { ReadPool, type ReadPoolStats } from '../core/read-pool.js';
import { resolveHost } from '../core/resolve.js';
import type { TlsClientOptions, TlsServerOptions } from '../core/tls.js';
import { openUnixDatagramSocket } from '../core/unix-datagram.js';
import { describeSystemError, SocklabError } from '../errors.js';
import { realClock, type Clock } from '../measure/clock.js';
import {
  describeFault,
  faultError,
  readFault,
  readParam,
  readParams,
  type Fault,
  type FaultSpec,
} from '../impair/fault.js';
import { FAULT_TYPES } from '../impair/faults/index.js';
import { MemoryBudget } from '../impair/pipeline.js';
import { Link, noDescriptorCode, TcpLink, UdpFlow, type LinkEnv } from './link.js';
import { createRandom, randomSeed, type Random } from '../impair/random.js';
import {
  COUNTER_NAMES,
  createCounters,
  resetCounters,
  type Counters,
  type Direction,
} from '../impair/stage.js';

/** TCP: memory held per direction per connection before the relay stops reading (toxiproxy holds
 * up to 1024 chunks of 32 KiB), each packet counted as its bytes plus PACKET_OVERHEAD_BYTES. A
 * delay of D ms forwards at most this / D: 128 MiB keeps a 50 ms delay at over 2.5 GB/s. Memory is
 * used only while data is held. */
export const DEFAULT_TCP_BUFFER_BYTES = 128 * 1024 * 1024;
/** UDP: memory held per direction per flow before datagrams are dropped (and counted). */
export const DEFAULT_UDP_BUFFER_BYTES = 4 * 1024 * 1024;
/** UDP: datagrams held per direction per flow before datagrams are dropped (and counted). */
export const DEFAULT_UDP_BUFFER_PACKETS = 4096;
/** UDP: flows at once; datagrams from further clients are dropped (and counted). */
export const DEFAULT_MAX_FLOWS = 4096;
/** UDP: a flow with no datagram either way for this long is closed. */
export const DEFAULT_FLOW_IDLE_MS = 60_000;
/** TCP: connections at once; further ones are closed on accept. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/**
 * Memory held by all the connections and flows of a relay together, counted as the per-connection
 * bound counts it (bytes plus PACKET_OVERHEAD_BYTES a packet). Once it is spent, a TCP direction
 * that holds data stops reading (the sender feels backpressure) and a UDP datagram is dropped
 * (`overflowed`), until it is below its low water (the budget less 4 MiB, or half if smaller). A
 * direction that holds nothing may still take one read, so a connection whose other direction is
 * stuck behind the budget goes on (each pipeline may pass the budget by one read, 64 KiB).
 */
export const DEFAULT_MEMORY_BUDGET_BYTES = 1024 * 1024 * 1024;

export interface RelayOptions {
  /** Where clients connect: `tcp://127.0.0.1:0`, `udp://:9000`, `9000`. Port 0 picks a free port. */
  readonly listen: string | Endpoint;
  /** Where the relay forwards to: `tcp://127.0.0.1:8080`. Without a scheme, the listen one. */
  readonly upstream: string | Endpoint;
  readonly faults?: readonly FaultSpec[];
  /** A `tls://` listen address: the certificate and the rest (none: a self-signed one is made). */
  readonly listenTls?: TlsServerOptions;
  /** A `tls://` upstream: verification and the rest (verified by default). */
  readonly upstreamTls?: TlsClientOptions;
  /** The relay's name in the API (default `relay`). */
  readonly name?: string;
  /** Seed for every random choice; the same seed replays the same pattern. Default: random. */
  readonly seed?: number;
  /** Memory held per direction per connection or flow: bytes, plus PACKET_OVERHEAD_BYTES a packet. */
  readonly maxBufferedBytes?: number;
  /** UDP: datagrams held per direction per flow. */
  readonly maxBufferedPackets?: number;
  /**
   * Memory held by every connection and flow together (bytes, counted as `maxBufferedBytes` is), or
   * a MemoryBudget shared with other relays. Default DEFAULT_MEMORY_BUDGET_BYTES, per relay.
   */
  readonly memoryBudget?: number | MemoryBudget;
  readonly maxConnections?: number;
  /** Who may connect (TCP) or send (UDP): `--allow`/`--deny` (server/access.ts). Everyone by default. */
  readonly access?: AccessControl;
  /** TCP: how long the upstream has to accept each connection. Default 10 s. */
  readonly connectTimeoutMs?: number;
  readonly maxFlows?: number;
  readonly flowIdleMs?: number;
  /** For tests of timing logic; the real clock by default. */
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
}

export interface LinkInfo {
  readonly id: number;
  /** The client's address. */
  readonly peer: string;
  /** Why it ended, if not cleanly (close event). */
  readonly error?: string;
  /** Bytes read from the client and from the target (close event). */
  readonly bytesUp?: number;
  readonly bytesDown?: number;
}

export interface RelayEvents {
  /** A connection accepted or a flow started. */
  open: [link: LinkInfo];
  close: [link: LinkInfo];
  /** The target could not be reached for a connection or a flow. The relay goes on. */
  upstreamError: [link: LinkInfo, error: SocklabError];
  /** A connection or flow refused by a limit. */
  refused: [peer: string, reason: string];
  /**
   * The relay is out of file descriptors (EMFILE: the process's limit, `ulimit -n`; ENFILE: the
   * system's): a connection was reset, or a datagram dropped, because no socket could be opened for
   * it. Not the target's fault, and not an upstream error.
   */
  noDescriptors: [peer: string, code: string];
}

export interface RelayStats {
  /** Connections (TCP) or flows (UDP) open now. */
  active: number;
  /** Opened since the start. */
  total: number;
  /** Refused by maxConnections or maxFlows (UDP: datagrams from clients without a flow). */
  refused: number;
  /** UDP flows closed for being idle. */
  expired: number;
  upstreamErrors: number;
  /** Connections reset and datagrams dropped for lack of file descriptors (EMFILE, ENFILE). */
  noDescriptors: number;
  /** Bytes held now in every pipeline (delayed, stalled, or waiting for a slow reader). */
  bufferedBytes: number;
  /** What that costs as the bounds count it: the bytes plus PACKET_OVERHEAD_BYTES a packet. */
  memoryBytes: number;
}

/** A relay as the API shows it. */
export interface RelayJson {
  name: string;
  listen: string;
  upstream: string;
  seed: number;
  faults: Fault[];
  stats: RelayStats;
  counters: Record<Direction, Counters>;
}

const SCHEME = /^(tcp|udp|tls):\/\//i;

function toEndpoint(value: string | Endpoint, role: 'listen' | 'connect', transport: Transport): Endpoint {
  if (typeof value !== 'string') return value;
  return parseAddress(value, { role, defaultTransport: transport });
}

/** The listen and upstream endpoints; a side without a scheme takes the other's. */
export function readEndpoints(
  listen: string | Endpoint,
  upstream: string | Endpoint,
  defaultTransport: Transport = 'tcp',
): { listen: Endpoint; upstream: Endpoint } {
  const scheme = (v: string | Endpoint): Transport | undefined => {
    if (typeof v !== 'string') return v.transport;
    const name = SCHEME.exec(v.trim())?.[1]?.toLowerCase();
    return name === 'tls' ? 'tcp' : (name as Transport | undefined);
  };
  const transport = scheme(listen) ?? scheme(upstream) ?? defaultTransport;
  const l = toEndpoint(listen, 'listen', transport);
  const u = toEndpoint(upstream, 'connect', transport);
  if (l.transport !== u.transport) {
    throw new SocklabError(
      'SOCKLAB_ERR_USAGE',
      `cannot relay ${l.transport} to ${u.transport}: listen and upstream must use the same transport`,
    );
  }
  return { listen: l, upstream: u };
}

import { readFaults } from '../impair/read-faults.js';

export { readFaults };

async function resolveTarget(endpoint: Endpoint): Promise<Endpoint> {
  if (endpoint.path !== undefined) return endpoint;
  const host = await resolveHost(endpoint.host, {
    attempt: `cannot resolve the upstream ${formatAddress(endpoint)}`,
    order: 'verbatim',
  });
  return { ...endpoint, host };
}

export class Relay extends EventEmitter<RelayEvents> {
  readonly name: string;
  readonly transport: Transport;
  readonly seed: number;
  /** The upstream as given. */
  readonly upstream: Endpoint;
  /** The upstream resolved to an IP address (once, at start). */
  readonly target: Endpoint;
  /** What all its connections and flows may hold together (maybe shared with other relays). */
  readonly memoryBudget: MemoryBudget;
  readonly #options: RelayOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #counters: Record<Direction, Counters> = { up: createCounters(), down: createCounters() };
  readonly #links = new Set<Link>();
  readonly #flows = new Map<number | string, UdpFlow>();
  #faults: Fault[];
  #nextId = 1;
  #server: net.Server | undefined;
  #socket: DatagramSocket | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  readonly #stats: RelayStats = {
    active: 0,
    total: 0,
    refused: 0,
    expired: 0,
    upstreamErrors: 0,
    noDescriptors: 0,
    bufferedBytes: 0,
    memoryBytes: 0,
  };
  readonly #linksGone = new Set<() => void>();
  readonly #env: LinkEnv;
  #listenTls = false;
  #listenPath: string | undefined;

  /** @internal use createRelay() */
  constructor(
    options: RelayOptions,
    endpoints: { listen: Endpoint; upstream: Endpoint; target: Endpoint },
    faults: Fault[],
  ) {
    super();
    this.#options = options;
    this.name = options.name ?? 'relay';
    this.transport = endpoints.listen.transport;
    this.upstream = endpoints.upstream;
    this.target = endpoints.target;
    this.seed = (options.seed ?? randomSeed()) >>> 0;
    this.#clock = options.clock ?? realClock;
    this.#random = createRandom(this.seed);
    this.#faults = faults;
    const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET_BYTES;
    this.memoryBudget = typeof budget === 'number' ? new MemoryBudget(budget) : budget;
    const tcp = this.transport === 'tcp';
    this.#env = {
      transport: this.transport,
      clock: this.#clock,
      random: this.#random,
      target: this.target,
      counters: this.#counters,
      maxBufferedBytes:
        options.maxBufferedBytes ?? (tcp ? DEFAULT_TCP_BUFFER_BYTES : DEFAULT_UDP_BUFFER_BYTES),
      maxBufferedPackets: options.maxBufferedPackets ?? DEFAULT_UDP_BUFFER_PACKETS,
      budget: this.memoryBudget,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      ...(this.upstream.tls === true ? { targetTls: upstreamTls(this.upstream, options.upstreamTls) } : {}),
      ...(endpoints.listen.path !== undefined ? { listenPath: endpoints.listen.path } : {}),
      readPool: new ReadPool(),
      faults: () => this.#faults,
      onUpstreamError: (link, error) => {
        this.#stats.upstreamErrors += 1;
        this.emit('upstreamError', { id: link.id, peer: link.peer }, error);
      },
      onNoDescriptors: (link, code) => this.#noDescriptors(link.peer, code),
      onClosed: (link) => this.#onLinkClosed(link),
    };
  }

  /** @internal How the TCP read buffers were reused (tests). */
  readPoolStats(): ReadPoolStats {
    return { ...this.#env.readPool.stats };
  }

  /** Where clients connect (the real port when asked for 0). */
  address(): Endpoint {
    if (this.#server) {
      const a = this.#server.address();
      const tls = this.#options.listenTls !== undefined || this.#listenTls ? { tls: true } : {};
      if (typeof a === 'string') return { transport: 'tcp', host: '', port: 0, path: a, ...tls };
      if (a) return { transport: 'tcp', host: a.address, port: a.port, ...tls };
    }
    if (this.#socket) {
      const a = this.#socket.address();
      if (this.#listenPath !== undefined)
        return { transport: 'udp', host: '', port: 0, path: this.#listenPath };
      return { transport: 'udp', host: a.address, port: a.port };
    }
    throw new SocklabError('SOCKLAB_ERR_SOCKET', `relay '${this.name}' is not listening`);
  }

  faults(): Fault[] {
    return [...this.#faults];
  }

  fault(name: string): Fault | undefined {
    return this.#faults.find((f) => f.name === name);
  }

  /** Add a fault; it applies at once to open connections and flows too. */
  addFault(spec: FaultSpec): Fault {
    const fault = readFault(FAULT_TYPES, spec, this.transport);
    if (this.fault(fault.name)) {
      throw new SocklabError(
        'SOCKLAB_ERR_EXISTS',
        `relay '${this.name}' already has a fault named '${fault.name}'`,
      );
    }
    this.#faults = [...this.#faults, fault];
    for (const link of this.#links) link.addFault(fault);
    return fault;
  }

  /** Change a fault's parameters (merged over the current ones) or probability, live. */
  updateFault(
    name: string,
    patch: { params?: Readonly<Record<string, unknown>>; probability?: number | string },
  ): Fault {
    const current = this.#existing(name);
    const what = `fault '${name}'`;
    if (typeof patch !== 'object' || patch === null) throw faultError(what, 'the change must be an object');
    for (const key of Object.keys(patch)) {
      if (key === 'name' || key === 'type' || key === 'direction') {
        const value = (patch as Record<string, unknown>)[key];
        if (value === undefined || value === (current as unknown as Record<string, unknown>)[key]) continue;
        throw faultError(what, `cannot change ${key}: remove the fault and add another`);
      }
      if (key !== 'params' && key !== 'probability')
        throw faultError(what, `unknown field '${key}' (params, probability)`);
    }
    const type = FAULT_TYPES[current.type]!;
    const params = readParams(type, patch.params, what, current.params) as Record<string, unknown>;
    const probability =
      patch.probability === undefined
        ? current.probability
        : (readParam({ kind: 'fraction', summary: '' }, patch.probability, `${what} probability`) as number);
    const fault: Fault = { ...current, params, probability };
    this.#faults = this.#faults.map((f) => (f.name === name ? fault : f));
    for (const link of this.#links) link.updateFault(fault);
    return fault;
  }

  /** Take a fault out; what its stages held goes on. */
  removeFault(name: string): void {
    this.#existing(name);
    this.#faults = this.#faults.filter((f) => f.name !== name);
    for (const link of this.#links) link.removeFault(name);
  }

  /** Remove every fault (toxiproxy's reset). */
  resetFaults(): void {
    for (const fault of this.#faults) this.removeFault(fault.name);
  }

  /** A copy of the counters, per direction. */
  counters(): Record<Direction, Counters> {
    return structuredClone(this.#counters);
  }

  resetCounters(): void {
    resetCounters(this.#counters.up);
    resetCounters(this.#counters.down);
  }

  stats(): RelayStats {
    let bufferedBytes = 0;
    let memoryBytes = 0;
    for (const link of this.#links) {
      bufferedBytes += link.up.bufferedBytes + link.down.bufferedBytes;
      memoryBytes += link.up.memoryBytes + link.down.memoryBytes;
    }
    return { ...this.#stats, active: this.#links.size, bufferedBytes, memoryBytes };
  }

  /** One line per fault: `delay 40ms ±10ms`, `loss 10% up`. */
  describeFaults(): string[] {
    return this.#faults.map((f) => describeFault(FAULT_TYPES, f));
  }

  toJSON(): RelayJson {
    return {
      name: this.name,
      listen: formatAddress(this.address()),
      upstream: formatAddress(this.upstream),
      seed: this.seed,
      faults: this.faults(),
      stats: this.stats(),
      counters: this.counters(),
    };
  }

  /** Stop listening and close every connection and flow; resolves once they are all closed. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#sweep);
    const server = this.#server;
    const socket = this.#socket;
    const closed: Promise<unknown>[] = [];
    if (server) closed.push(new Promise<void>((resolve) => server.close(() => resolve())));
    socket?.close();
    if (this.#links.size > 0) closed.push(new Promise<void>((resolve) => this.#linksGone.add(resolve)));
    for (const link of [...this.#links]) link.destroy();
    await Promise.all(closed);
    this.#env.readPool.close();
  }

  #noDescriptors(peer: string, code: string): void {
    this.#stats.noDescriptors += 1;
    this.emit('noDescriptors', peer, code);
  }

  #existing(name: string): Fault {
    const fault = this.fault(name);
    if (!fault)
      throw new SocklabError('SOCKLAB_ERR_NOT_FOUND', `relay '${this.name}' has no fault named '${name}'`);
    return fault;
  }

  #onLinkClosed(link: Link): void {
    if (!this.#links.delete(link)) return;
    if (link instanceof UdpFlow) this.#flows.delete(link.key);
    const info: LinkInfo =
      link instanceof TcpLink
        ? {
            id: link.id,
            peer: link.peer,
            bytesUp: link.bytesUp,
            bytesDown: link.bytesDown,
            ...(link.error !== undefined ? { error: link.error } : {}),
          }
        : { id: link.id, peer: link.peer };
    this.emit('close', info);
    if (this.#links.size === 0) {
      for (const resolve of this.#linksGone) resolve();
      this.#linksGone.clear();
    }
  }

  /** @internal */
  async listen(endpoint: Endpoint): Promise<void> {
    if (endpoint.transport === 'tcp') await this.#listenTcp(endpoint);
    else await this.#listenUdp(endpoint);
    const signal = this.#options.signal;
    if (signal) {
      if (signal.aborted) await this.close();
      else signal.addEventListener('abort', () => void this.close(), { once: true });
    }
  }

  async #listenTcp(endpoint: Endpoint): Promise<void> {
    const maxConnections = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#listenTls = endpoint.tls === true;
    this.#server = await listenStream({
      host: endpoint.host,
      port: endpoint.port,
      ...(endpoint.path !== undefined ? { path: endpoint.path } : {}),
      ...(endpoint.tls === true ? { tls: this.#options.listenTls ?? {} } : {}),
      onTlsError: (peer, err) => {
        this.#stats.refused += 1;
        // The reason without the peer: the same reason for many clients is reported once, then counted.
        this.emit(
          'refused',
          peer,
          err.message.replace(`TLS handshake with ${peer} failed`, 'TLS handshake failed'),
        );
      },
      pauseOnConnect: true,
      maxConnections,
      onConnection: (client) => {
        if (this.#closing) {
          client.destroy();
          return;
        }
        const access = this.#options.access;
        if (access && !access.allows(client.remoteAddress ?? '')) {
          this.#stats.refused += 1;
          this.emit(
            'refused',
            formatHostPort(plainAddress(client.remoteAddress ?? '?'), client.remotePort ?? 0),
            'not allowed (--allow/--deny)',
          );
          client.resetAndDestroy();
          return;
        }
        const link = new TcpLink(this.#env, this.#nextId++, client);
        this.#links.add(link);
        this.#stats.total += 1;
        this.emit('open', { id: link.id, peer: link.peer });
      },
      onDrop: (peer) => {
        this.#stats.refused += 1;
        this.emit('refused', peer, `${maxConnections} connections already open`);
      },
    });
    // An accept that fails (libuv closes the connection itself): out of descriptors, or worse. Not
    // a reason to stop serving the others.
    this.#server.on('error', (err) => {
      const code = noDescriptorCode(err);
      if (code !== undefined) this.#noDescriptors('?', code);
      else {
        this.#stats.refused += 1;
        this.emit('refused', '?', `cannot accept: ${describeSystemError(err)}`);
      }
    });
  }

  async #listenUdp(endpoint: Endpoint): Promise<void> {
    const socket = await bindDatagram({
      host: endpoint.host,
      port: endpoint.port,
      ...(endpoint.path !== undefined ? { path: endpoint.path } : {}),
    });
    this.#listenPath = endpoint.path;
    // A reply that cannot be delivered to a client (ICMP) must not stop the relay.
    socket.onError(() => undefined);
    const maxFlows = this.#options.maxFlows ?? DEFAULT_MAX_FLOWS;
    socket.onMessage((data) => {
      const key = socket.senderKey();
      let flow = this.#flows.get(key);
      if (!flow) {
        if (this.#closing) return;
        const sender = socket.sender();
        const access = this.#options.access;
        if (access && !access.allows(sender.address)) {
          this.#stats.refused += 1;
          this.emit(
            'refused',
            formatHostPort(plainAddress(sender.address), sender.port),
            'not allowed (--allow/--deny)',
          );
          return;
        }
        if (this.#flows.size >= maxFlows) {
          this.#stats.refused += 1;
          this.emit('refused', formatHostPort(sender.address, sender.port), `${maxFlows} flows already open`);
          return;
        }
        try {
          flow = new UdpFlow(this.#env, this.#nextId, socket, sender, key);
        } catch (err) {
          const code = noDescriptorCode(err);
          if (code === undefined) throw err;
          // No socket for this client's flow: drop the datagram, the next one tries again.
          this.#noDescriptors(formatHostPort(sender.address, sender.port), code);
          return;
        }
        this.#nextId++;
        if (flow.finished) return; // it could not open its socket (said so already)
        this.#flows.set(key, flow);
        this.#links.add(flow);
        this.#stats.total += 1;
        this.emit('open', { id: flow.id, peer: flow.peer });
      }
      flow.receive(data);
    });
    this.#socket = socket;
    const idleMs = this.#options.flowIdleMs ?? DEFAULT_FLOW_IDLE_MS;
    this.#sweep = setInterval(() => this.#expire(idleMs), Math.max(10, Math.min(1000, idleMs / 4)));
    this.#sweep.unref();
  }

  #expire(idleMs: number): void {
    const now = this.#clock.now();
    for (const flow of this.#flows.values()) {
      if (now - flow.lastActivityMs >= idleMs && flow.idle) {
        this.#stats.expired += 1;
        flow.destroy();
      }
    }
  }
}

/** The upstream's TLS: the name checked (and sent in SNI) is the host as given, not the address it resolved to. */
function upstreamTls(upstream: Endpoint, options: TlsClientOptions | undefined): TlsClientOptions {
  const named = upstream.path === undefined && isIP(upstream.host) === 0;
  return { ...(named ? { servername: upstream.host } : {}), ...options };
}

/** Start a relay: listening when the promise resolves. */
export async function createRelay(options: RelayOptions): Promise<Relay> {
  const { listen, upstream } = readEndpoints(options.listen, options.upstream);
  // A Unix datagram target is opened per flow, at its first datagram: find out now if it cannot be.
  if (upstream.transport === 'udp' && upstream.path !== undefined) openUnixDatagramSocket().close();
  const faults = readFaults(options.faults ?? [], listen.transport);
  const target = await resolveTarget(upstream);
  const relay = new Relay(options, { listen, upstream, target }, faults);
  await relay.listen(listen);
  return relay;
}

/** `up: forwarded 12 (1.2 kB), dropped 3 (300 B)`: the counters that are not zero. */
export function describeCounters(counters: Counters): string {
  const parts = COUNTER_NAMES.filter((n) => counters[n].packets > 0).map(
    (n) => `${n} ${counters[n].packets} (${counters[n].bytes} bytes)`,
  );
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}
