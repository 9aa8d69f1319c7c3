/**
 * Scene 4b: delivery. A burst of numbered datagrams, sent as fast as possible to a receiver with a
 * small receive buffer that cannot read during the burst: the kernel drops what does not fit, and
 * nobody tells the sender. Then the same bytes over TCP, where flow control makes the sender wait
 * and everything arrives, in order.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { CloseInfo, Connection } from '../behaviours/behaviour.js';
import { listenTcp } from '../server/tcp-server.js';
import { listenUdp } from '../server/udp-server.js';
import type { DeliveryFacts } from './facts.js';
import { bytes, count, ms, percent, plural } from './format.js';
import { DatagramTally, makeRecord, StreamChecker } from './records.js';
import { DEMO_HOST, settle, since, Stage, STEP_LIMIT_MS, within, type SceneContext } from './stage.js';

export interface DeliveryOptions {
  /** Datagrams in the burst (and records over TCP). */
  readonly records: number;
  readonly recordBytes: number;
  /** The receiver's kernel buffer, much smaller than the burst. */
  readonly receiveBufferBytes: number;
  /** The burst stops early after this long, so a slow machine still finishes in seconds. */
  readonly burstLimitMs: number;
}

/**
 * 20,000 × 1 KiB (19.5 MiB) into 64 KiB: on a 2-vCPU machine the burst takes about 0.1 s and all
 * but a few dozen datagrams are dropped, every run. Even socklab's default 4 MiB buffer would lose
 * most of a burst this size; the small one makes the point without depending on that.
 */
export const DEFAULT_DELIVERY: DeliveryOptions = {
  records: 20_000,
  recordBytes: 1024,
  receiveBufferBytes: 64 * 1024,
  burstLimitMs: 2_000,
};

/** No datagram for this long after the burst: the receiver has read all that is coming. */
const QUIET_MS = 50;
/** Check the burst's time limit (and Ctrl-C) every this many datagrams, not on each one. */
const CHECK_EVERY = 500;

/**
 * Linux counts datagrams dropped because a socket's receive buffer was full (RcvbufErrors in
 * /proc/net/snmp). The count covers the whole machine; `null` where there is no such file.
 */
async function kernelBufferDrops(): Promise<number | null> {
  try {
    const lines = (await readFile('/proc/net/snmp', 'utf8')).split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]?.trim().split(/\s+/) ?? [];
    const values = lines[1]?.trim().split(/\s+/) ?? [];
    const at = names.indexOf('RcvbufErrors');
    const value = at > 0 ? Number(values[at]) : NaN;
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

async function overUdp(
  { narrator, signal }: SceneContext,
  options: DeliveryOptions,
): Promise<DeliveryFacts['udp']> {
  const stage = new Stage();
  try {
    const tally = new DatagramTally(options.records);
    const server = stage.own(
      await listenUdp({
        host: DEMO_HOST,
        port: 0,
        receiveBufferBytes: options.receiveBufferBytes,
        behaviours: [{ name: 'tally', onMessage: (msg) => tally.add(msg.data) }],
      }),
      (s) => s.close(),
    );
    const client = await stage.openUdp(server.address().port);
    narrator.event(
      'UDP receiver',
      `a server with a ${bytes(options.receiveBufferBytes)} receive buffer; it cannot read until the ` +
        'burst is over (the sender runs on the same thread)',
    );
    const dropsBefore = await kernelBufferDrops();
    const start = performance.now();
    const sends: Promise<void>[] = [];
    let sent = 0;
    // One synchronous loop: the event loop cannot run the receiver's 'message' handler until it
    // ends, so only the receiver's kernel buffer can hold what arrives meanwhile, as with a
    // program that is busy elsewhere.
    for (; sent < options.records; sent++) {
      if (
        sent % CHECK_EVERY === 0 &&
        sent > 0 &&
        (signal.aborted || performance.now() - start > options.burstLimitMs)
      ) {
        break;
      }
      sends.push(client.send(makeRecord(sent, options.recordBytes)));
    }
    const results = await within(Promise.allSettled(sends), STEP_LIMIT_MS, 'the UDP burst', signal);
    const sendMs = since(start);
    const sendErrors = results.filter((r) => r.status === 'rejected').length;
    narrator.event(
      'UDP sender',
      `sent ${count(sent)} datagrams of ${bytes(options.recordBytes)} (${bytes(sent * options.recordBytes)}) ` +
        `in ${ms(sendMs)}; errors reported to it: ${count(sendErrors)}`,
    );
    await settle(() => tally.received + tally.duplicates + tally.strangers, {
      quietMs: QUIET_MS,
      limitMs: STEP_LIMIT_MS,
      signal,
    });
    const dropsAfter = await kernelBufferDrops();
    const kernelDrops = dropsBefore !== null && dropsAfter !== null ? dropsAfter - dropsBefore : null;
    const lost = sent - tally.received;
    narrator.event(
      'UDP receiver',
      `received ${count(tally.received)} (${percent(tally.received, sent)}): datagrams #${tally.ranges()}`,
    );
    narrator.measured(
      `lost: ${count(lost)} of ${count(sent)} (${percent(lost, sent)}); duplicated: ${count(tally.duplicates)}; ` +
        `out of order: ${count(tally.outOfOrder)}`,
    );
    if (kernelDrops !== null) {
      narrator.measured(
        `the kernel's count of datagrams dropped for a full receive buffer (RcvbufErrors, whole ` +
          `machine) rose by ${count(kernelDrops)}`,
      );
    }
    return {
      receiveBufferBytes: options.receiveBufferBytes,
      sent,
      sendErrors,
      sendMs,
      received: tally.received,
      lost,
      duplicates: tally.duplicates,
      outOfOrder: tally.outOfOrder,
      receivedRanges: tally.ranges(),
      kernelBufferDrops: kernelDrops,
    };
  } finally {
    await stage.close();
  }
}

async function overTcp(
  { narrator, signal }: SceneContext,
  options: DeliveryOptions,
  records: number,
): Promise<DeliveryFacts['tcp']> {
  const stage = new Stage();
  try {
    const checker = new StreamChecker(options.recordBytes);
    const server = stage.own(
      await listenTcp({
        host: DEMO_HOST,
        port: 0,
        behaviours: [{ name: 'check', onMessage: (msg) => checker.push(msg.data) }],
      }),
      (s) => s.close({ force: true }),
    );
    const ended = once(server, 'close') as Promise<[Connection, CloseInfo]>;
    const client = await stage.connectTcp(server.address().port, signal);
    const sentHash = createHash('sha256');
    let drainWaits = 0;
    const start = performance.now();
    for (let seq = 0; seq < records; seq++) {
      const record = makeRecord(seq, options.recordBytes);
      sentHash.update(record);
      const written = client.send(record);
      // send() resolves at once while the socket has room; when its buffer is full it waits for
      // 'drain', which comes only as the receiver reads and TCP's window opens again.
      if (client.socket.writableNeedDrain) {
        drainWaits += 1;
        await within(written, STEP_LIMIT_MS, 'the TCP receiver making room', signal);
      } else {
        await written;
      }
    }
    await client.end();
    // The server closes its side once it has read everything up to our FIN.
    await within(
      client.read({ timeoutMs: STEP_LIMIT_MS }),
      STEP_LIMIT_MS,
      'the TCP receiver finishing',
      signal,
    );
    await within(ended, STEP_LIMIT_MS, 'the connection closing', signal);
    const transferMs = since(start);
    const bytesSent = records * options.recordBytes;
    const facts = {
      records: checker.records,
      bytesSent,
      bytesReceived: checker.bytes,
      inOrder: checker.complete(records),
      sha256Sent: sentHash.digest('hex'),
      sha256Received: checker.digest(),
      drainWaits,
      transferMs,
    };
    narrator.event(
      'TCP sender',
      `sent the same ${count(records)} records (${bytes(bytesSent)}) in ${ms(transferMs)}`,
    );
    narrator.event(
      'TCP receiver',
      `received ${count(facts.bytesReceived)} of ${count(bytesSent)} bytes; ` +
        (facts.inOrder
          ? 'every record once, in order'
          : `${count(checker.misordered)} records out of place`) +
        (facts.sha256Sent === facts.sha256Received ? '; SHA-256 of both sides equal' : '; SHA-256 differs'),
    );
    narrator.measured(
      `the sender had to wait for the receiver ${plural(drainWaits, 'time')} (TCP flow control: the ` +
        'receive window was full)',
    );
    return facts;
  } finally {
    await stage.close();
  }
}

export async function deliveryPart(
  ctx: SceneContext,
  options: DeliveryOptions = DEFAULT_DELIVERY,
): Promise<DeliveryFacts> {
  const { narrator } = ctx;
  narrator.part('b) Delivery');
  narrator.explain(
    `A sender writes ${count(options.records)} numbered datagrams as fast as it can, then the same bytes ` +
      'over TCP. The receiver counts what arrives.',
  );
  const udp = await overUdp(ctx, options);
  if (udp.lost > 0) {
    narrator.explain(
      "UDP: the receiver's buffer filled up and the kernel dropped the rest, silently. UDP has no flow " +
        'control and no retransmission: nothing slowed the sender down, and nothing told it.',
    );
  } else {
    narrator.explain(
      'UDP: this time nothing was lost; the receiver kept up on this machine. UDP did not promise ' +
        'that, it just happened: nothing would have told the sender otherwise.',
    );
  }
  const tcp = await overTcp(ctx, options, udp.sent);
  narrator.explain(
    tcp.inOrder && tcp.sha256Sent === tcp.sha256Received
      ? 'TCP: instead of dropping, it made the sender wait until the receiver had room, and it would ' +
          'have sent again anything lost on the way. Every byte arrived, in order.'
      : 'TCP: the bytes did not all arrive in order. That should not happen: please report it.',
  );
  return { recordBytes: options.recordBytes, udp, tcp };
}
