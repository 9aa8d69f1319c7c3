/**
 * `compare(options)`: the same workload over TCP and UDP through the same faults, at the same time,
 * with the same seed; a verdict per message and each lane's figures. A lane is a receiving agent,
 * the path (the relay today, `socklab link` next), and a sending agent; agents run in this process
 * or in a child (agent.ts, child.ts), so the path decides where each end lives.
 */
import type { Transport } from '../address.js';
import { SocklabError } from '../errors.js';
import { FAULT_TYPES } from '../impair/faults/index.js';
import { faultTypeOf, type FaultSpec } from '../impair/fault.js';
import { createRelay, readFaults, type Relay } from '../relay/relay.js';
import { createLink, readLinkFaults, type Link } from '../link/link.js';
import { tunProblem } from '../core/tun.js';
import { localAgent, type Agent } from './agent.js';
import { analyzeLane, emptyRecords, type LaneDetail, type LaneResult, type LaneStatus } from './analyze.js';
import { AGENT_MAIN, childAgent, spawnAgent } from './child.js';
import { sharedNow } from './message.js';
import {
  messageCount,
  type AgentEvent,
  type ReceiveRecord,
  type SendRecord,
  type Workload,
} from './protocol.js';
import { readingOf } from './reading.js';
import { SequenceRecorder, type Sequence } from './sequence.js';

export const MAX_MESSAGES = 10_000_000;
export const MAX_MESSAGE_BYTES = 65_507;
export const MIN_MESSAGE_BYTES = 24;

export type Via = 'relay' | 'link' | 'auto';

export interface SweepPoint {
  /** The value as the user wrote it: `2%`. */
  readonly value: string;
  readonly faults: readonly FaultSpec[];
}

export interface CompareOptions {
  readonly workload: Workload;
  /** The faults, as the relay takes them; each lane gets those that apply to its transport. */
  readonly faults?: readonly FaultSpec[];
  /** Run once per point instead (one fault given as a list): `fault` names it (`loss`). */
  readonly sweep?: { readonly fault: string; readonly points: readonly SweepPoint[] };
  /** Default: random, reported. */
  readonly seed?: number;
  /**
   * Where the faults are applied: 'link' (packets, the kernel's own TCP; needs root), 'relay'
   * (in-process, no privileges; TCP's stream only delayed), 'auto' (the default: the link where it
   * can run and every fault is a packet fault, else the relay, with a note saying why).
   */
  readonly via?: Via;
  /** Each run (each sweep point) ends by then, what has come counted. Default from the workload. */
  readonly deadlineMs?: number;
  /** 'child': each lane's two ends run in child processes (as they will inside a link). */
  readonly agents?: 'local' | 'child';
  /** Which lanes (default both): a course may run one. */
  readonly lanes?: readonly Transport[];
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: CompareProgress) => void;
}

export interface CompareProgress {
  readonly point?: string;
  readonly lane: Transport;
  readonly sent: number;
  readonly received: number;
  readonly count: number;
}

export interface CompareLanes {
  readonly tcp?: LaneResult;
  readonly udp?: LaneResult;
}

/** What `--json` prints (stable keys). */
export interface CompareResult {
  readonly via: 'relay' | 'link';
  readonly seed: number;
  readonly workload: Readonly<Record<string, number | string>>;
  /** The faults, as the relay describes them, per lane. */
  readonly faults: { readonly tcp: readonly string[]; readonly udp: readonly string[] };
  readonly lanes: CompareLanes;
  readonly sweep?: {
    readonly fault: string;
    readonly points: readonly { readonly value: string; readonly lanes: CompareLanes }[];
  };
  /** What the path could and could not do (e.g. the relay and TCP). */
  readonly notes: readonly string[];
  /** A plain-language reading of the numbers. */
  readonly reading: readonly string[];
  readonly started_at: string;
  readonly duration_ms: number;
}

/** Per-message data of the run shown in detail (the last sweep point): not part of the JSON. */
export interface CompareDetail {
  readonly tcp?: LaneDetail;
  readonly udp?: LaneDetail;
  /** Via the link, when it dropped a TCP data segment: the TCP lane's packets around it. */
  readonly sequence?: Sequence;
}

const DETAIL = Symbol.for('socklab.compare.detail');

export function detailOf(result: CompareResult): CompareDetail | undefined {
  return (result as unknown as Record<symbol, CompareDetail | undefined>)[DETAIL];
}

function usage(message: string): SocklabError {
  return new SocklabError('SOCKLAB_ERR_USAGE', message);
}

/** Checks a workload: one line for each thing that makes no sense. */
export function checkWorkload(workload: Workload): void {
  const count = messageCount(workload);
  if (!Number.isInteger(workload.sizeBytes) || workload.sizeBytes < MIN_MESSAGE_BYTES)
    throw usage(
      `--size ${workload.sizeBytes}: a message is at least ${MIN_MESSAGE_BYTES} bytes (its header)`,
    );
  if (workload.sizeBytes > MAX_MESSAGE_BYTES)
    throw usage(
      `--size ${workload.sizeBytes}: larger than a UDP datagram can carry (${MAX_MESSAGE_BYTES} bytes over IPv4)`,
    );
  if (!(count >= 1)) {
    const what =
      workload.kind === 'paced' ? '--messages' : workload.kind === 'bulk' ? '--bytes' : '--requests';
    throw usage(`${what} 0: nothing to send (give 1 or more)`);
  }
  if (count > MAX_MESSAGES) throw usage(`${count} messages: at most ${MAX_MESSAGES} in one run`);
}

/** The faults that apply to one transport: the others stay with the other lane. */
export function faultsFor(faults: readonly FaultSpec[], transport: Transport): FaultSpec[] {
  return faults.filter((f) => faultTypeOf(FAULT_TYPES, f.type)?.transports.includes(transport) ?? true);
}

/** The longest a datagram may be held on its way, from the delay faults (for the tail wait). */
function longestDelayMs(faults: readonly FaultSpec[]): number {
  let ms = 0;
  for (const fault of readFaults(faultsFor(faults, 'udp'), 'udp')) {
    if (fault.type !== 'delay') continue;
    const p = fault.params as { delayMs: number; jitterMs: number };
    ms = Math.max(ms, p.delayMs + 6 * p.jitterMs);
  }
  return ms;
}

function defaultDeadlineMs(workload: Workload, faults: readonly FaultSpec[]): number {
  const count = messageCount(workload);
  const delay = longestDelayMs(faults);
  const sending =
    workload.kind === 'paced'
      ? count * workload.intervalMs
      : workload.kind === 'bulk'
        ? workload.bytes / 2_000 // 2 MB/s at worst
        : count * (2 * delay + 50);
  return Math.round(30_000 + 3 * sending + 4 * delay);
}

const RELAY_NOTE =
  "via the relay, TCP's stream was only delayed, never lossy: the relay sits between two TCP " +
  'connections on loopback and forwards a byte stream, and dropping, duplicating, reordering or ' +
  'corrupting bytes of a stream would break it, not imitate a network; so loss, duplicate, reorder ' +
  'and corrupt act on the UDP lane only, and TCP met the delay, jitter and rate. To see the ' +
  "kernel's TCP retransmit real lost segments, compare through the link (--via link).";

const LINK_NOTE =
  'via the link: each lane had a socklab link of its own (a network namespace behind two TUN ' +
  'devices, the faults applied to every IP packet, both ways where not scoped), the sender inside, ' +
  "the receiver outside: TCP was the kernel's own, and it resent what the link dropped " +
  "(retransmissions: the sender's kernel counters).";

/**
 * Where the faults go. `link` where asked (a usage error if a fault only a stream relay has is
 * given; SOCKLAB_ERR_SOCKET saying what is missing if no link can be made here); `auto` takes the
 * link when it can run and every fault is a packet fault, else the relay, and says why.
 */
function choosePath(
  asked: Via,
  faultSets: readonly (readonly FaultSpec[])[],
): { via: 'relay' | 'link'; why?: string } {
  if (asked === 'relay') return { via: 'relay' };
  let streamFault: string | undefined;
  for (const faults of faultSets) {
    try {
      readLinkFaults({ faults });
    } catch (err) {
      if (asked === 'link') throw err;
      streamFault = err instanceof Error ? err.message : String(err);
    }
  }
  const missing = tunProblem();
  if (asked === 'link') {
    if (missing !== undefined)
      throw new SocklabError('SOCKLAB_ERR_SOCKET', `cannot make the link: ${missing}`);
    return { via: 'link' };
  }
  if (streamFault !== undefined) return { via: 'relay', why: `not via the link: ${streamFault}` };
  if (missing !== undefined) return { via: 'relay', why: `not via the link: ${missing}` };
  return { via: 'link' };
}

interface LaneRun {
  readonly result: LaneResult;
  readonly detail: LaneDetail;
}

/** Waits for one event of an agent (or its error), bounded. */
function nextEvent<K extends AgentEvent['ev']>(
  agent: Agent,
  kinds: readonly K[],
  timeoutMs: number,
  onProgress?: (done: number) => void,
): Promise<Extract<AgentEvent, { ev: K }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new SocklabError('SOCKLAB_ERR_TIMEOUT', `the lane agent said nothing within ${timeoutMs} ms`)),
      timeoutMs,
    );
    agent.onEvent((event) => {
      if (event.ev === 'progress') {
        onProgress?.(event.done);
        return;
      }
      if (event.ev === 'error') {
        clearTimeout(timer);
        reject(new SocklabError('SOCKLAB_ERR_SOCKET', event.message));
        return;
      }
      if ((kinds as readonly string[]).includes(event.ev)) {
        clearTimeout(timer);
        resolve(event as Extract<AgentEvent, { ev: K }>);
      }
    });
  });
}

interface RunContext {
  readonly workload: Workload;
  readonly seed: number;
  readonly deadlineAt: number;
  readonly signal: AbortSignal | undefined;
  readonly agents: 'local' | 'child';
  readonly originMs: number;
  readonly point?: string;
  readonly onProgress?: ((progress: CompareProgress) => void) | undefined;
}

/**
 * What stands between a lane's two ends: where the receiver listens, what the sender aims at, who
 * runs the sender, and what the path itself counted (to reconcile with the verdicts).
 */
interface LanePath {
  /** The address the receiving agent listens on. */
  readonly receiverHost: string;
  /** Put the path in front of the receiver's port; returns where the sender aims. */
  open(receiverPort: number): Promise<{ host: string; port: number }>;
  newSender(): Agent;
  /**
   * What the path counted, read once at the end: sender → receiver packets (or datagrams)
   * forwarded, dropped, duplicated, …; and the kernel's TCP retransmissions on the sender's side,
   * where they can be read (null where not).
   */
  figures(): { path: Record<string, number> | undefined; retransmissions: number | null };
  close(): Promise<void>;
}

const PATH_COUNTERS = [
  'forwarded',
  'dropped',
  'duplicated',
  'reordered',
  'corrupted',
  'delayed',
  'overflowed',
] as const;

/** The relay, in this process on 127.0.0.1: both ends here (or in children on loopback). */
function relayPath(transport: Transport, faults: readonly FaultSpec[], ctx: RunContext): LanePath {
  const newAgent = ctx.agents === 'child' ? spawnAgent : localAgent;
  let relay: Relay | undefined;
  return {
    receiverHost: '127.0.0.1',
    async open(port) {
      relay = await createRelay({
        name: `compare-${transport}`,
        listen: { transport, host: '127.0.0.1', port: 0 },
        upstream: { transport, host: '127.0.0.1', port },
        faults,
        seed: ctx.seed,
        ...(transport === 'udp' ? { maxBufferedPackets: 65_536, maxBufferedBytes: 64 * 1024 * 1024 } : {}),
      });
      return { host: '127.0.0.1', port: relay.address().port };
    },
    newSender: newAgent,
    figures() {
      const up = relay?.counters().up;
      return {
        path: up && Object.fromEntries(PATH_COUNTERS.map((k) => [k, up[k].packets])),
        retransmissions: null,
      };
    },
    close: async () => relay?.close(),
  };
}

/**
 * A link of the lane's own (so one lane's packets never shift the other's random draws): the
 * sender runs inside its namespace, the receiver here at `link.peer`; the link's "up" is the
 * lane's sender → receiver, as the relay's is. The kernel counters are the sender's namespace's.
 */
function linkPath(link: Link): LanePath {
  return {
    receiverHost: link.peer,
    open: (port) => Promise.resolve({ host: link.peer, port }),
    newSender: () =>
      childAgent(link.spawn(process.execPath, [AGENT_MAIN], { stdio: ['pipe', 'pipe', 'pipe'] })),
    figures() {
      const { up, down, kernel } = link.counters();
      return {
        path: {
          ...Object.fromEntries(PATH_COUNTERS.map((k) => [k, up.counters[k].packets])),
          // The other way: ACKs, answers.
          dropped_back: down.counters.dropped.packets,
        },
        retransmissions: kernel?.tcpRetransSegs ?? null,
      };
    },
    close: () => link.close(),
  };
}

/** One lane: receiver ← the path (the faults) ← sender. Never throws: a failure is its status. */
async function runLane(
  transport: Transport,
  faults: readonly FaultSpec[],
  path: LanePath,
  ctx: RunContext,
): Promise<LaneRun> {
  const count = messageCount(ctx.workload);
  const receiver = ctx.agents === 'child' ? spawnAgent() : localAgent();
  let sender: Agent | undefined;
  let status: LaneStatus = 'ok';
  let error: string | undefined;
  let send: SendRecord | undefined;
  let receive: ReceiveRecord | undefined;
  let received = 0;
  let sent = 0;
  const report = () =>
    ctx.onProgress?.({
      ...(ctx.point !== undefined ? { point: ctx.point } : {}),
      lane: transport,
      sent,
      received,
      count,
    });
  const remaining = () => Math.max(1, ctx.deadlineAt - sharedNow());
  const onAbort = () => {
    status = 'stopped';
    sender?.send({ op: 'abort', reason: 'stopped' });
  };
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = setTimeout(() => {
    status = 'deadline';
    sender?.send({ op: 'abort', reason: 'the deadline passed' });
  }, remaining());
  try {
    const ready = nextEvent(receiver, ['ready'], 10_000);
    receiver.send({
      op: 'receive',
      transport,
      host: path.receiverHost,
      count,
      reply: ctx.workload.kind === 'request',
    });
    const { port } = await ready;
    const target = await path.open(port);
    // The receiver's progress goes to the same report while the sender runs.
    receiver.onEvent((event) => {
      if (event.ev === 'progress') {
        received = event.done;
        report();
      }
    });
    sender = path.newSender();
    const done = nextEvent(sender, ['sent'], remaining() + 10_000, (n) => {
      sent = n;
      report();
    });
    const delay = longestDelayMs(faults);
    sender.send({
      op: 'send',
      transport,
      host: target.host,
      port: target.port,
      workload: ctx.workload,
      seed: ctx.seed,
      replyTimeoutMs: Math.max(200, 4 * delay + 100),
    });
    const sentEvent = await done;
    send = sentEvent.record;
    sent = send.sent;
    if (sentEvent.error !== undefined) {
      status = 'failed';
      error = sentEvent.error;
    }
  } catch (err) {
    status = 'failed';
    error = err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(deadline);
    ctx.signal?.removeEventListener('abort', onAbort);
  }
  try {
    const tail = nextEvent(receiver, ['received'], 15_000, (n) => (received = n));
    const quietMs = Math.max(300, 2 * longestDelayMs(faults) + 200);
    receiver.send({
      op: 'finish',
      quietMs,
      timeoutMs: Math.min(10_000, Math.max(quietMs, remaining())),
    });
    const got = await tail;
    receive = got.record;
    if (got.error !== undefined && status === 'ok') {
      status = 'failed';
      error = got.error;
    }
  } catch (err) {
    if (status === 'ok') status = 'failed';
    error ??= err instanceof Error ? err.message : String(err);
  }
  await sender?.close();
  const { path: counters, retransmissions } = path.figures();
  await path.close();
  await receiver.close();
  const empty = emptyRecords(count);
  const { result, detail } = analyzeLane({
    transport,
    workload: ctx.workload,
    send: send ?? empty.send,
    receive: receive ?? empty.receive,
    status,
    ...(error !== undefined ? { error } : {}),
    originMs: ctx.originMs,
    ...(counters !== undefined ? { path: counters } : {}),
    ...(transport === 'tcp' ? { retransmissions } : {}),
  });
  return { result, detail };
}

/** The faults a lane met: through the link every packet fault, through the relay those of its transport. */
function describeFaults(faults: readonly FaultSpec[], transport: Transport, via: 'relay' | 'link'): string[] {
  const read =
    via === 'link' ? readLinkFaults({ faults }) : readFaults(faultsFor(faults, transport), transport);
  return read.map((f) => {
    const type = FAULT_TYPES[f.type]!;
    const where = f.direction === 'both' ? '' : ` (${f.direction})`;
    return `${f.type} ${type.describe(f.params)}${where}`;
  });
}

async function runOnce(
  via: 'relay' | 'link',
  faults: readonly FaultSpec[],
  lanes: readonly Transport[],
  options: CompareOptions,
  seed: number,
  point: string | undefined,
): Promise<{ lanes: CompareLanes; detail: CompareDetail }> {
  const originMs = sharedNow();
  const ctx: RunContext = {
    workload: options.workload,
    seed,
    deadlineAt: originMs + (options.deadlineMs ?? defaultDeadlineMs(options.workload, faults)),
    signal: options.signal,
    agents: options.agents ?? 'local',
    originMs,
    ...(point !== undefined ? { point } : {}),
    onProgress: options.onProgress,
  };
  let paths: LanePath[];
  let recorder: SequenceRecorder | undefined;
  if (via === 'link') {
    // One link per lane, made one after the other (each picks a free /30 of its own).
    paths = [];
    try {
      for (const transport of lanes) {
        const link = await createLink({
          faults,
          seed,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(transport === 'tcp' ? { onPacket: (recorder = new SequenceRecorder()).onPacket } : {}),
        });
        paths.push(linkPath(link));
      }
    } catch (err) {
      await Promise.all(paths.map((p) => p.close()));
      throw err;
    }
  } else paths = lanes.map((transport) => relayPath(transport, faultsFor(faults, transport), ctx));
  const runs = await Promise.all(
    lanes.map((transport, i) =>
      runLane(transport, via === 'link' ? faults : faultsFor(faults, transport), paths[i]!, ctx),
    ),
  );
  const out: Record<string, LaneResult> = {};
  const detail: { tcp?: LaneDetail; udp?: LaneDetail; sequence?: Sequence } = {};
  lanes.forEach((transport, i) => {
    out[transport] = runs[i]!.result;
    detail[transport] = runs[i]!.detail;
  });
  const sequence = recorder?.sequence();
  if (sequence !== undefined) detail.sequence = sequence;
  return { lanes: out, detail };
}

function workloadJson(workload: Workload): Record<string, number | string> {
  switch (workload.kind) {
    case 'paced':
      return {
        kind: 'paced',
        messages: workload.messages,
        size_bytes: workload.sizeBytes,
        interval_ms: workload.intervalMs,
      };
    case 'bulk':
      return {
        kind: 'bulk',
        bytes: workload.bytes,
        size_bytes: workload.sizeBytes,
        messages: messageCount(workload),
      };
    case 'request':
      return { kind: 'request', requests: workload.requests, size_bytes: workload.sizeBytes };
  }
}

/**
 * Run the comparison. Usage errors (a workload that makes no sense, bad faults) throw
 * SOCKLAB_ERR_USAGE before anything runs; a lane that fails is reported in its result.
 */
export async function compare(options: CompareOptions): Promise<CompareResult> {
  checkWorkload(options.workload);
  const lanes = options.lanes ?? ['tcp', 'udp'];
  const faultSets = options.sweep ? options.sweep.points.map((p) => p.faults) : [options.faults ?? []];
  for (const faults of faultSets) {
    for (const transport of lanes) readFaults(faultsFor(faults, transport), transport); // usage errors now
  }
  if (options.sweep && options.sweep.points.length === 0) throw usage('a sweep needs one value or more');
  const { via, why } = choosePath(options.via ?? 'auto', faultSets);
  const seed = options.seed ?? Math.floor(Math.random() * 0x100000000);
  const startedAt = new Date();
  const began = sharedNow();
  let last: { lanes: CompareLanes; detail: CompareDetail };
  let sweep: CompareResult['sweep'];
  if (options.sweep) {
    const points: { value: string; lanes: CompareLanes }[] = [];
    let run: typeof last | undefined;
    for (const point of options.sweep.points) {
      if (options.signal?.aborted) break;
      run = await runOnce(via, point.faults, lanes, options, seed, point.value);
      points.push({ value: point.value, lanes: run.lanes });
    }
    last = run ?? { lanes: {}, detail: {} };
    sweep = { fault: options.sweep.fault, points };
  } else {
    last = await runOnce(via, options.faults ?? [], lanes, options, seed, undefined);
  }
  const shownFaults = options.sweep ? options.sweep.points.at(-1)!.faults : (options.faults ?? []);
  const base = {
    via,
    seed,
    workload: workloadJson(options.workload),
    faults: {
      tcp: describeFaults(shownFaults, 'tcp', via),
      udp: describeFaults(shownFaults, 'udp', via),
    },
    lanes: last.lanes,
    ...(sweep !== undefined ? { sweep } : {}),
    notes: via === 'link' ? [LINK_NOTE] : [...(why !== undefined ? [why] : []), RELAY_NOTE],
  };
  const result: CompareResult = {
    ...base,
    reading: readingOf(base),
    started_at: startedAt.toISOString(),
    duration_ms: Math.round(sharedNow() - began),
  };
  Object.defineProperty(result, DETAIL, { value: last.detail, enumerable: false });
  return result;
}
