/**
 * What the orchestrator and a lane agent say to each other: JSON lines, the same objects whether
 * the agent runs in this process or in a child (`agent-main.ts`, e.g. inside `socklab link`'s
 * namespace). Per-message arrays travel as typed arrays in-process and as base64 in a child.
 */
import type { Transport } from '../address.js';

export type Workload =
  /** Paced messages: a game or voice stream. */
  | {
      readonly kind: 'paced';
      readonly messages: number;
      readonly sizeBytes: number;
      readonly intervalMs: number;
    }
  /** A bulk transfer: as fast as the lane takes it. */
  | { readonly kind: 'bulk'; readonly bytes: number; readonly sizeBytes: number }
  /** Request/response: one at a time, each answered by the receiver. */
  | { readonly kind: 'request'; readonly requests: number; readonly sizeBytes: number };

/** How many messages a workload sends. */
export function messageCount(workload: Workload): number {
  switch (workload.kind) {
    case 'paced':
      return workload.messages;
    case 'bulk':
      return Math.ceil(workload.bytes / workload.sizeBytes);
    case 'request':
      return workload.requests;
  }
}

export type AgentRequest =
  | {
      readonly op: 'receive';
      readonly transport: Transport;
      /** Where to listen: 127.0.0.1 on loopback, the namespace's address in a link. */
      readonly host: string;
      readonly count: number;
      /** Answer each message (request/response). */
      readonly reply: boolean;
    }
  | {
      readonly op: 'send';
      readonly transport: Transport;
      readonly host: string;
      readonly port: number;
      readonly workload: Workload;
      readonly seed: number;
      /** Request/response: how long to wait for each answer before counting it lost. */
      readonly replyTimeoutMs: number;
    }
  /** Receiver: stop once everything came, the stream ended, or nothing came for quietMs. */
  | { readonly op: 'finish'; readonly quietMs: number; readonly timeoutMs: number }
  /** Stop now and report what there is (the deadline passed, or the other end failed). */
  | { readonly op: 'abort'; readonly reason: string };

/** The receiver's record, per sequence number (index). */
export interface ReceiveRecord {
  /** First intact arrival, ms on the shared clock; NaN: never came intact. */
  readonly arriveMs: Float64Array;
  /** Intact copies (a duplicate makes 2). */
  readonly copies: Uint16Array;
  /** Copies whose checksum did not match. */
  readonly corrupt: Uint16Array;
  /** Rank of the first intact arrival among all first arrivals (0, 1, …); 0xffffffff: none. */
  readonly arrivalRank: Uint32Array;
  /** Send time written in the message (what the receiver saw). */
  readonly stampMs: Float64Array;
  /** Corrupted messages whose sequence number was unreadable (out of range). */
  readonly strayCorrupt: number;
  /** The stream ended cleanly (TCP). */
  readonly ended: boolean;
}

export interface SendRecord {
  /** When each message was handed to the socket, ms on the shared clock; NaN: never sent. */
  readonly sendMs: Float64Array;
  /** Request/response: round trip per message; NaN: no answer. Empty otherwise. */
  readonly rttMs: Float64Array;
  readonly sent: number;
}

export type AgentEvent =
  | { readonly ev: 'ready'; readonly host: string; readonly port: number }
  | { readonly ev: 'progress'; readonly done: number }
  | { readonly ev: 'received'; readonly record: ReceiveRecord; readonly error?: string }
  | { readonly ev: 'sent'; readonly record: SendRecord; readonly error?: string }
  /** The agent itself failed (could not listen, connect, or it died). */
  | { readonly ev: 'error'; readonly message: string };

const KINDS = { f64: Float64Array, u16: Uint16Array, u32: Uint32Array } as const;

function toWire(value: unknown): unknown {
  for (const [tag, ctor] of Object.entries(KINDS)) {
    if (value instanceof ctor) {
      const t = value;
      return { $t: tag, b64: Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('base64') };
    }
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  return value;
}

function fromWire(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (typeof v.$t === 'string' && typeof v.b64 === 'string' && Object.hasOwn(KINDS, v.$t)) {
      const bytes = Buffer.from(v.b64, 'base64');
      const ctor = KINDS[v.$t as keyof typeof KINDS];
      const copy = new Uint8Array(bytes); // aligned
      return new ctor(copy.buffer, 0, copy.byteLength / ctor.BYTES_PER_ELEMENT);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromWire(x)]));
  }
  if (Array.isArray(value)) return value.map(fromWire);
  return value;
}

/** One object → one JSON line (typed arrays as base64). */
export function encodeLine(message: AgentRequest | AgentEvent): string {
  return `${JSON.stringify(toWire(message))}\n`;
}

export function decodeLine<T extends AgentRequest | AgentEvent>(line: string): T {
  return fromWire(JSON.parse(line)) as T;
}
