/**
 * The emulated link: a network namespace whose only way out is a pair of TUN devices, one inside it
 * and one in this process's namespace, with this process moving every IP packet between them
 * through the fault engine (src/impair/), one pipeline per direction:
 *
 *   inside: COMMAND ─▶ tun (inner) ─▶ up pipeline ─▶ tun (outer) ─▶ this namespace
 *                                ◀─ down pipeline ◀─
 *
 * The link is the engine's packet adapter (the relay, src/relay/, is its socket adapter): the
 * pipelines run on datagram rules (a packet may overtake another: reorder, jitter) and the stages
 * know they see whole IP packets (`ctx.ip`: corrupt damages past the headers).
 *
 * Addresses: a free /30 of 198.18.0.0/15 (RFC 2544, benchmarking): .1 outside (the peer), .2
 * inside; the namespace has a route to that /30 only, so nothing inside reaches beyond the link,
 * and only packets between the two addresses cross it (IPv6 link chatter and anything else is
 * counted as ignored, never written).
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { createHrtimerClock } from '../core/hrtimer.js';
import { openTun, tunProblem, VNET_HEADER_BYTES, type TunDevice } from '../core/tun.js';
import { SocklabError } from '../errors.js';
import { directionsOf, type Fault, type FaultSpec } from '../impair/fault.js';
import { FAULT_TYPES } from '../impair/faults/index.js';
import {
  describePacket,
  ipv4ToNumber,
  numberToIpv4,
  parseIpv4,
  payloadRange,
  PROTO_TCP,
} from '../impair/ip.js';
import { Pipeline } from '../impair/pipeline.js';
import { createRandom, randomSeed } from '../impair/random.js';
import { readFaults } from '../impair/read-faults.js';
import { createCounters, type CounterName, type Counters, type Direction } from '../impair/stage.js';
import { realClock, type Clock } from '../measure/clock.js';
import { LatencyHistogram } from '../measure/latency-histogram.js';
import { PacketLog, PcapWriter } from './capture.js';
import { coalesce } from './coalesce.js';
import { deviceTxDropped, readKernelCounters, type KernelCounters } from './kernel-counters.js';
import { createNamespace, ipv4Networks, type Namespace } from './namespace.js';

/** What the link may hold per direction (delayed and queued packets), counted as the relay counts. */
export const DEFAULT_LINK_BUFFER_BYTES = 128 * 1024 * 1024;
export const DEFAULT_LINK_BUFFER_PACKETS = 131_072;
/** The rate limit's queue when none is given: netem's default limit, 1000 packets. */
export const DEFAULT_LINK_QUEUE_PACKETS = 1000;
export const DEFAULT_LINK_MTU = 1500;
/**
 * Packets a device holds for this process to read (its txqueuelen; the kernel's default, 500,
 * dropped about 6 % of a TCP transfer's segments in bursts before this process read them).
 */
const TX_QUEUE_PACKETS = 10_000;
/** The fault types that make sense on IP packets (the datagram ones). */
export const LINK_FAULT_TYPES = ['delay', 'rate', 'loss', 'drop', 'duplicate', 'reorder', 'corrupt'] as const;

const BASE = ipv4ToNumber('198.18.0.0');
const SUBNETS = 1 << 15; // /30s in 198.18.0.0/15

export interface LinkOptions {
  /** Faults with their direction (`up`: from inside to outside, `down`, or `both`, the default). */
  readonly faults?: readonly FaultSpec[];
  /** Faults for the upstream direction only (inside → outside). */
  readonly up?: readonly FaultSpec[];
  /** Faults for the downstream direction only (outside → inside). */
  readonly down?: readonly FaultSpec[];
  /** Seed of every random choice; the same seed and the same packets give the same drops. */
  readonly seed?: number;
  /** Closes the link when aborted. */
  readonly signal?: AbortSignal;
  /** MTU of both devices (default 1500). */
  readonly mtu?: number;
  /** Write every packet the link sees to this file, in pcap format. */
  readonly pcapFile?: string;
  /** Write a JSON line per packet event to this file. */
  readonly logFile?: string;
  /**
   * Offloads: TCP moves in segments of up to 64 KiB that the kernels cut up or never need to (as
   * between virtual machines), several times the throughput. A packet is then such a segment, so
   * only the faults that act on time and bytes are allowed: delay (and jitter) and rate (with its
   * queue in bytes).
   *
   * Unset (the default), the link chooses: offload when nothing needs MTU-sized packets (no
   * faults, or delay and jitter only; no pcapFile, logFile or onPacket), packet by packet
   * otherwise. `true` forces it (a fault it cannot carry is an error), `false` forbids it.
   * `Link.path` says which ran, and why.
   */
  readonly offload?: boolean;
  /** Time, for the pipelines (default: the monotonic clock, with timers on a timerfd). */
  readonly clock?: Clock;
  /**
   * Called for each packet event, as the log writes them (`in` when a packet enters a direction,
   * then what the pipeline did: forwarded, dropped, overflowed, …), synchronously: `packet` (the
   * IP packet) is only valid during the call. Keep what is needed, bounded.
   */
  readonly onPacket?: (event: LinkPacketEvent) => void;
}

export interface LinkPacketEvent {
  /** Milliseconds since the link was made. */
  readonly atMs: number;
  readonly dir: Direction;
  readonly event: 'in' | CounterName;
  readonly packet: Buffer;
}

export interface LinkDirectionCounters {
  /** What the pipeline did: forwarded, dropped, overflowed (queue full), duplicated, … */
  readonly counters: Counters;
  /** Packets that entered this direction. */
  readonly packetsIn: number;
  /** Packets not between the link's two addresses (IPv6 neighbour chatter…): not forwarded. */
  readonly ignored: number;
  /** Packets the receiving device's queue refused. */
  readonly deviceFull: number;
  /** Packets the sending device dropped before socklab read them (its queue of 10,000 was full). */
  readonly deviceDropped: number;
  /** Packets held by the link at once, at most (delayed, queued behind the rate). */
  readonly heldPeak: number;
  /** Per-packet path: forwarded packets written in runs of TCP segments joined into one (GRO). */
  readonly joined: number;
  /** Of the packets dropped or overflowed: TCP segments with data, and TCP segments without (ACKs). */
  readonly lostTcpData: number;
  readonly lostTcpEmpty: number;
  /** Time from arrival to delivery, per forwarded packet (µs). */
  readonly timeInLink: { readonly count: number; readonly p50_us: number; readonly p99_us: number };
}

export interface LinkCounters {
  readonly up: LinkDirectionCounters;
  readonly down: LinkDirectionCounters;
  /** The namespace's kernel counters (TCP retransmissions, UDP checksum errors, …). */
  readonly kernel: KernelCounters | undefined;
}

export interface Link {
  /** The outer side's address: what COMMAND inside reaches this namespace at. */
  readonly peer: string;
  /** The inner side's address. */
  readonly inner: string;
  /** A process inside the namespace: `nsenter -t PID -n` enters it. */
  readonly pid: number;
  readonly seed: number;
  readonly faults: readonly Fault[];
  /** Which path the packets take: offload (TSO segments) or one MTU-sized packet at a time. */
  readonly path: LinkPath;
  /** The devices' names: [inner, outer]. */
  readonly devices: readonly [string, string];
  /** Run a command inside, with SOCKLAB_LINK_PEER and SOCKLAB_LINK_ADDRESS in its environment. */
  spawn(command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  counters(): LinkCounters;
  /** Stop everything spawned inside, remove both devices and the namespace. */
  close(): Promise<void>;
}

class LinkDirection {
  readonly pipeline: Pipeline;
  readonly counters: Counters = createCounters();
  readonly histogram = new LatencyHistogram();
  packetsIn = 0;
  ignored = 0;
  heldPeak = 0;
  lostTcpData = 0;
  lostTcpEmpty = 0;
  joined = 0;
  /** Packets in joined writes that a full device refused, beyond the one write it counted. */
  refusedInJoins = 0;
  /** GRO: what the pipeline forwarded since the last flush, written together at the end of the tick. */
  private pending: Buffer[] = [];

  constructor(
    readonly direction: Direction,
    readonly clock: Clock,
    private readonly out: () => TunDevice | undefined,
    log: ((counter: CounterName, data: Buffer) => void) | undefined,
    gro: boolean,
  ) {
    const observe = (counter: CounterName, data: Buffer) => {
      if (counter === 'dropped' || counter === 'overflowed') {
        const ip = parseIpv4(data);
        if (ip?.protocol === PROTO_TCP) {
          if (payloadRange(data) !== undefined) this.lostTcpData += 1;
          else this.lostTcpEmpty += 1;
        }
      }
      log?.(counter, data);
    };
    this.pipeline = new Pipeline({
      transport: 'udp',
      direction,
      clock,
      counters: this.counters,
      ip: true,
      maxBufferedBytes: DEFAULT_LINK_BUFFER_BYTES,
      maxBufferedPackets: DEFAULT_LINK_BUFFER_PACKETS,
      observe,
      sink: {
        write: (data, packet) => {
          this.histogram.recordMs(clock.now() - packet.arrivedMs);
          if (!gro) out()?.write(data);
          else if (this.pending.push(data) === 1) queueMicrotask(this.flush);
          return true;
        },
        end: () => undefined,
        reset: () => undefined,
      },
    });
  }

  /** Write what was forwarded during this tick (a batch read, a timer): TCP runs joined. */
  private readonly flush = (): void => {
    const packets = this.pending;
    this.pending = [];
    const { writes, counts, joined } = coalesce(packets);
    this.joined += joined;
    const device = this.out();
    if (!device) return;
    for (let i = 0; i < writes.length; i++) {
      if (!device.write(writes[i]!)) this.refusedInJoins += counts[i]! - 1;
    }
  };

  push(packet: Buffer): void {
    this.packetsIn += 1;
    this.pipeline.push(packet);
    const held = this.pipeline.queuedPackets;
    if (held > this.heldPeak) this.heldPeak = held;
  }

  snapshot(device: TunDevice | undefined, deviceDropped: number): LinkDirectionCounters {
    const s = this.histogram.summary();
    return {
      counters: structuredClone(this.counters),
      packetsIn: this.packetsIn,
      ignored: this.ignored,
      deviceFull: (device?.writeDropped ?? 0) + this.refusedInJoins,
      deviceDropped,
      heldPeak: this.heldPeak,
      joined: this.joined,
      lostTcpData: this.lostTcpData,
      lostTcpEmpty: this.lostTcpEmpty,
      timeInLink: { count: s.count, p50_us: s.p50_us, p99_us: s.p99_us },
    };
  }
}

/** Faults from the three lists, checked, with the link's defaults (the rate's queue). */
/** The faults that still mean what they say when a packet may be a 64 KiB segment (offload). */
export const OFFLOAD_FAULT_TYPES = ['delay', 'rate'] as const;
/** The rate limit's queue with offload, when none is given: 1000 packets of 1500 bytes. */
const DEFAULT_OFFLOAD_QUEUE_BYTES = 1000 * 1500;

export function readLinkFaults(options: Pick<LinkOptions, 'faults' | 'up' | 'down' | 'offload'>): Fault[] {
  const specs: FaultSpec[] = [
    ...(options.faults ?? []),
    ...(options.up ?? []).map((f) => ({ ...f, direction: 'up' as const })),
    ...(options.down ?? []).map((f) => ({ ...f, direction: 'down' as const })),
  ];
  // A stream fault is refused for what it is, before the engine's reading calls it a TCP-only fault.
  for (const spec of specs) {
    if (
      Object.hasOwn(FAULT_TYPES, spec.type) &&
      !(LINK_FAULT_TYPES as readonly string[]).includes(spec.type)
    ) {
      throw new SocklabError(
        'SOCKLAB_ERR_USAGE',
        `link fault '${spec.name ?? spec.type}': ${spec.type} is a stream fault; the link carries IP packets (faults: ${LINK_FAULT_TYPES.join(', ')})`,
      );
    }
  }
  const faults = readFaults(specs, 'udp', 'link fault');
  for (const fault of faults) {
    if (!(LINK_FAULT_TYPES as readonly string[]).includes(fault.type)) {
      throw new SocklabError(
        'SOCKLAB_ERR_USAGE',
        `link fault '${fault.name}': ${fault.type} is a stream fault; the link carries IP packets (faults: ${LINK_FAULT_TYPES.join(', ')})`,
      );
    }
  }
  if (options.offload) {
    for (const fault of faults) {
      const allowed = (OFFLOAD_FAULT_TYPES as readonly string[]).includes(fault.type);
      if (!allowed || fault.params.queuePackets !== undefined) {
        throw new SocklabError(
          'SOCKLAB_ERR_USAGE',
          `link fault '${fault.name}': with offload a packet may be a 64 KiB TCP segment, so only delay and rate (its queue in bytes) mean what they say`,
        );
      }
    }
  }
  return faults.map((fault) =>
    fault.type === 'rate' && fault.params.queuePackets === undefined && fault.params.queueBytes === undefined
      ? {
          ...fault,
          params: options.offload
            ? { ...fault.params, queueBytes: DEFAULT_OFFLOAD_QUEUE_BYTES }
            : { ...fault.params, queuePackets: DEFAULT_LINK_QUEUE_PACKETS },
        }
      : fault,
  );
}

/** How the link moves packets, and why that way. */
export interface LinkPath {
  /** TCP in segments of up to 64 KiB (IFF_VNET_HDR, TSO), or false: one MTU-sized packet at a time. */
  readonly offload: boolean;
  /** Why, in a few words: 'no faults', 'loss acts on single packets', … */
  readonly why: string;
  /** Per packet: runs of TCP segments forwarded together are written as one (GRO). */
  readonly gro?: boolean;
}

/**
 * The faults that keep offload on when it is not asked for: delay (and its jitter) moves a 64 KiB
 * segment as it moves its 45 packets. Rate is not among them although offload can carry it: with
 * segments its queue drops 45 packets at once, and goodput is 3 % above what a wire of that rate
 * carries (iperf3 at --rate 12mbit: 11.95 Mbit/s, 11.58 per packet, which is the rate less the
 * headers); a rate limit is slow enough for the per-packet path anyway.
 */
const AUTO_OFFLOAD_FAULT_TYPES: readonly string[] = ['delay'];

/**
 * Offload or per packet, for these (checked) faults and options. See LinkOptions.offload.
 */
export function chooseLinkPath(
  faults: readonly Fault[],
  options: Pick<LinkOptions, 'offload' | 'pcapFile' | 'logFile' | 'onPacket'>,
): LinkPath {
  if (options.offload === true) return { offload: true, why: 'asked for' };
  if (options.offload === false) return { offload: false, why: 'asked for' };
  const perPacket = faults.find((f) => !AUTO_OFFLOAD_FAULT_TYPES.includes(f.type));
  if (perPacket !== undefined) {
    return {
      offload: false,
      why:
        perPacket.type === 'rate'
          ? `${perPacket.type} queues and drops single packets`
          : `${perPacket.type} acts on single packets`,
    };
  }
  if (options.pcapFile !== undefined) return { offload: false, why: "the pcap shows the wire's packets" };
  if (options.logFile !== undefined) return { offload: false, why: "the log shows the wire's packets" };
  if (options.onPacket !== undefined) return { offload: false, why: "onPacket sees the wire's packets" };
  return { offload: true, why: faults.length === 0 ? 'no faults' : 'delay only' };
}

/** The /30s this process's links hold: two links made at once must not take the same one. */
const taken = new Set<number>();

/** A /30 of 198.18.0.0/15 that no address of this namespace is in (and no other link of ours). */
async function freeSubnet(): Promise<number> {
  const used = await ipv4Networks();
  const clashes = (base: number) =>
    used.some(([address, prefix]) => {
      const span = prefix >= 30 ? 4 : 2 ** (32 - prefix);
      const start = prefix === 0 ? 0 : (address & ~(span - 1)) >>> 0;
      return base < start + span && start < base + 4;
    });
  let k = (process.pid * 7919 + Math.floor(Math.random() * SUBNETS)) % SUBNETS;
  for (let tries = 0; tries < SUBNETS; tries++, k = (k + 1) % SUBNETS) {
    const base = (BASE + 4 * k) >>> 0;
    if (!taken.has(base) && !clashes(base)) {
      taken.add(base);
      return base;
    }
  }
  throw new SocklabError('SOCKLAB_ERR_SOCKET', 'no free /30 left in 198.18.0.0/15 for the link');
}

let linksMade = 0;

/**
 * Start a link: a new network namespace behind two TUN devices, the faults in between. Needs root
 * (CAP_NET_ADMIN, CAP_SYS_ADMIN) and the native addon; throws SOCKLAB_ERR_SOCKET saying which is
 * missing.
 */
export async function createLink(options: LinkOptions = {}): Promise<Link> {
  const checked = readLinkFaults({ ...options, offload: options.offload === true });
  const path = chooseLinkPath(checked, options);
  // Chosen offload carries delay only: the faults read either way are the same.
  const faults = path.offload ? readLinkFaults({ ...options, offload: true }) : checked;
  const mtu = options.mtu ?? DEFAULT_LINK_MTU;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw new SocklabError('SOCKLAB_ERR_USAGE', `link mtu ${mtu}: a whole number from 576 to 65535`);
  }
  const problem = tunProblem();
  if (problem !== undefined) throw new SocklabError('SOCKLAB_ERR_SOCKET', `cannot make the link: ${problem}`);
  options.signal?.throwIfAborted();
  const seed = (options.seed ?? randomSeed()) >>> 0;
  const random = createRandom(seed);
  const hrtimer = options.clock === undefined ? createHrtimerClock() : undefined;
  // Without the addon there is no link (tunProblem said so above): realClock is only a formality.
  const clock = options.clock ?? hrtimer ?? realClock;

  const cleanups: (() => Promise<void> | void)[] = [];
  if (hrtimer) cleanups.push(() => hrtimer.close());
  const undo = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    const pcap = options.pcapFile !== undefined ? new PcapWriter(options.pcapFile) : undefined;
    if (pcap) cleanups.push(() => pcap.close());
    const log = options.logFile !== undefined ? new PacketLog(options.logFile) : undefined;
    if (log) cleanups.push(() => log.close());

    const ns: Namespace = await createNamespace();
    cleanups.push(() => ns.close());
    const base = await freeSubnet();
    cleanups.push(() => void taken.delete(base));
    const peer = numberToIpv4(base + 1);
    const inner = numberToIpv4(base + 2);
    const peerN = base + 1;
    const innerN = base + 2;

    /** Set once opened: packets written before (none can be: no address yet) go nowhere. */
    const tun: { inner?: TunDevice; outer?: TunDevice } = {};
    const t0 = clock.now();
    /**
     * Per packet, runs of TCP segments are written as one (GRO, src/link/coalesce.ts), but not
     * with corrupt (a joined write's checksum is the kernel's to finish: a stale one would be
     * mended), nor with SOCKLAB_LINK_GRO=0.
     */
    const gro =
      !path.offload && !faults.some((f) => f.type === 'corrupt') && process.env.SOCKLAB_LINK_GRO !== '0';
    /** With offload or GRO, each packet read starts with the virtio header: the IP packet is after it. */
    const vnet = path.offload || gro ? VNET_HEADER_BYTES : 0;
    /** What the pipelines carry: with offload the packets as read, with their header; else IP packets. */
    const keepHeader = path.offload;
    const onPacket = options.onPacket;
    const observer = (direction: Direction) =>
      log || onPacket
        ? (event: CounterName, data: Buffer) => {
            const atMs = clock.now() - t0;
            const packet = keepHeader ? data.subarray(vnet) : data;
            log?.record({ t_us: Math.round(atMs * 1000), dir: direction, event, ...describePacket(packet) });
            onPacket?.({ atMs, dir: direction, event, packet });
          }
        : undefined;
    const up = new LinkDirection('up', clock, () => tun.outer, observer('up'), gro);
    const down = new LinkDirection('down', clock, () => tun.inner, observer('down'), gro);
    for (const fault of faults) {
      const type = FAULT_TYPES[fault.type]!;
      for (const direction of directionsOf(fault.direction)) {
        const pipeline = direction === 'up' ? up.pipeline : down.pipeline;
        pipeline.add(
          fault.name,
          type.rank,
          type.create(fault.params),
          random.fork(`link/${direction}/${fault.name}`),
        );
      }
    }
    cleanups.push(() => {
      up.pipeline.close();
      down.pipeline.close();
    });

    const arrive = (dir: LinkDirection, from: number, to: number) => (packets: readonly Buffer[]) => {
      for (const packet of packets) {
        const ipPacket = vnet > 0 ? packet.subarray(vnet) : packet;
        const ip = parseIpv4(ipPacket);
        if (!ip || ip.src !== from || ip.dst !== to) {
          dir.ignored += 1;
          continue;
        }
        const now = clock.now();
        pcap?.record(ipPacket, now);
        log?.record({
          t_us: Math.round((now - t0) * 1000),
          dir: dir.direction,
          event: 'in',
          n: dir.packetsIn + 1,
          ...describePacket(ipPacket),
        });
        onPacket?.({ atMs: now - t0, dir: dir.direction, event: 'in', packet: ipPacket });
        dir.push(keepHeader ? packet : ipPacket);
      }
    };
    const n = ++linksMade;
    const outerTun = openTun({
      name: `sl${process.pid}-${n}`.slice(0, 15),
      onPackets: arrive(down, peerN, innerN),
      offload: path.offload,
      vnetHeader: gro,
    });
    tun.outer = outerTun;
    cleanups.push(() => outerTun.close());
    const innerTun = openTun({
      name: 'link0',
      netnsPath: ns.netnsPath,
      offload: path.offload,
      vnetHeader: gro,
      onPackets: arrive(up, innerN, peerN),
    });
    tun.inner = innerTun;
    cleanups.push(() => innerTun.close());

    await ns.ip(
      [
        `link set dev ${outerTun.name} mtu ${mtu} txqueuelen ${TX_QUEUE_PACKETS} addrgenmode none`,
        `addr add ${peer}/30 dev ${outerTun.name}`,
        `link set dev ${outerTun.name} up`,
      ],
      'outside',
    );
    await ns.ip([
      'link set dev lo up',
      `link set dev ${innerTun.name} mtu ${mtu} txqueuelen ${TX_QUEUE_PACKETS} addrgenmode none`,
      `addr add ${inner}/30 dev ${innerTun.name}`,
      `link set dev ${innerTun.name} up`,
    ]);

    const children = new Set<ChildProcess>();
    let final: LinkCounters | undefined;
    let closing: Promise<void> | undefined;
    const kernel = (): KernelCounters | undefined => {
      try {
        return readKernelCounters(ns.pid);
      } catch {
        return undefined;
      }
    };
    const counters = (): LinkCounters =>
      final ?? {
        up: up.snapshot(outerTun, deviceTxDropped(ns.pid, innerTun.name)),
        down: down.snapshot(innerTun, deviceTxDropped('self', outerTun.name)),
        kernel: kernel(),
      };

    const close = (): Promise<void> =>
      (closing ??= (async () => {
        options.signal?.removeEventListener('abort', onAbort);
        await Promise.all(
          [...children].map(async (child) => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            const gone = once(child, 'exit');
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
            await gone;
            clearTimeout(timer);
          }),
        );
        final = counters();
        await undo();
      })());
    const onAbort = () => void close();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    return {
      peer,
      inner,
      pid: ns.pid,
      seed,
      faults,
      path: { ...path, ...(gro ? { gro: true } : {}) },
      devices: [innerTun.name, outerTun.name],
      spawn(command, args = [], spawnOptions = {}) {
        if (closing) throw new SocklabError('SOCKLAB_ERR_SOCKET', 'the link is closed');
        const child = ns.spawn(command, args, {
          ...spawnOptions,
          env: {
            ...(spawnOptions.env ?? process.env),
            SOCKLAB_LINK_PEER: peer,
            SOCKLAB_LINK_ADDRESS: inner,
          },
        });
        children.add(child);
        child.once('exit', () => children.delete(child));
        child.once('error', () => children.delete(child));
        return child;
      },
      counters,
      close,
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
