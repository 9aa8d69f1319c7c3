/**
 * A pipeline on a manual clock with the faults given, writing into arrays: the relay's logic with
 * no sockets and no waiting.
 */
import type { Transport } from '../../src/address.js';
import { ManualClock } from '../../src/measure/clock.js';
import { directionsOf, readFault, type FaultSpec } from '../../src/impair/fault.js';
import { FAULT_TYPES } from '../../src/impair/faults/index.js';
import { Pipeline } from '../../src/impair/pipeline.js';
import { createRandom } from '../../src/impair/random.js';
import type { EndAction } from '../../src/impair/stage.js';

export interface Written {
  data: Buffer;
  atMs: number;
}

export interface HarnessOptions {
  transport: Transport;
  faults?: FaultSpec[];
  seed?: number;
  maxBufferedBytes?: number;
  maxBufferedPackets?: number;
  /** The sink reports full after this many bytes until drain() (default: never full). */
  sinkCapacityBytes?: number;
  /** The packets are whole IP packets (the link). */
  ip?: boolean;
}

export function harness(options: HarnessOptions) {
  const clock = new ManualClock(1000);
  const out: Written[] = [];
  const events: string[] = [];
  let ended: EndAction | undefined;
  let resets = 0;
  let inSink = 0;
  let writable = 0;
  let corked = false;
  /** Writes made between one cork() and its uncork(), one entry per cork. */
  const corkedWrites: number[] = [];
  /** Bytes handed back as never to be written. */
  const discarded: Buffer[] = [];
  const random = createRandom(options.seed ?? 1);
  const pipeline = new Pipeline({
    transport: options.transport,
    direction: 'up',
    clock,
    maxBufferedBytes: options.maxBufferedBytes ?? 1 << 20,
    ...(options.ip ? { ip: true } : {}),
    ...(options.maxBufferedPackets !== undefined ? { maxBufferedPackets: options.maxBufferedPackets } : {}),
    onWritable: () => {
      writable += 1;
      events.push('writable');
    },
    sink: {
      write(data) {
        if (corked) corkedWrites[corkedWrites.length - 1]! += 1;
        out.push({ data, atMs: clock.now() });
        inSink += data.length;
        return options.sinkCapacityBytes === undefined || inSink < options.sinkCapacityBytes;
      },
      end(action) {
        ended = action;
        events.push(`end:${action}`);
      },
      reset() {
        resets += 1;
        events.push('reset');
      },
      discard(data) {
        discarded.push(data);
      },
      cork() {
        corked = true;
        corkedWrites.push(0);
      },
      uncork() {
        corked = false;
      },
    },
  });
  const add = (spec: FaultSpec) => {
    const fault = readFault(FAULT_TYPES, spec, options.transport);
    const type = FAULT_TYPES[fault.type]!;
    if (directionsOf(fault.direction).includes('up')) {
      pipeline.add(fault.name, type.rank, type.create(fault.params), random.fork(fault.name));
    }
    return fault;
  };
  for (const spec of options.faults ?? []) add(spec);
  return {
    clock,
    pipeline,
    out,
    events,
    corkedWrites,
    discarded,
    add,
    update(spec: FaultSpec) {
      const fault = readFault(FAULT_TYPES, spec, options.transport);
      const type = FAULT_TYPES[fault.type]!;
      return pipeline.update(
        fault.name,
        fault.params,
        () => type.create(fault.params),
        random.fork(fault.name),
      );
    },
    /** The sink has room again. */
    drain() {
      inSink = 0;
      pipeline.sinkDrained();
    },
    get ended() {
      return ended;
    },
    get resets() {
      return resets;
    },
    get writable() {
      return writable;
    },
    bytes: () => Buffer.concat(out.map((w) => w.data)),
  };
}

/** A datagram carrying its number, to follow it through the pipeline. */
export function numbered(i: number, size = 16): Buffer {
  const b = Buffer.alloc(Math.max(4, size));
  b.writeUInt32BE(i, 0);
  return b;
}

export function numberOf(b: Buffer): number {
  return b.readUInt32BE(0);
}
