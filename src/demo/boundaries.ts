/**
 * Scene 4a: message boundaries. Three quick writes over TCP arrive as a byte stream, cut wherever
 * the receiver's reads happen to fall; three datagrams over UDP arrive as exactly three messages.
 */
import { once } from 'node:events';
import type { CloseInfo, Connection } from '../behaviours/behaviour.js';
import { listenTcp } from '../server/tcp-server.js';
import { listenUdp } from '../server/udp-server.js';
import type { BoundaryFacts } from './facts.js';
import { plural } from './format.js';
import { countdown, DEMO_HOST, isTimeout, Stage, STEP_LIMIT_MS, within, type SceneContext } from './stage.js';

const WRITES = ['one', 'two', 'three'] as const;
/** Loopback delivers in microseconds; after this long, what has not arrived is reported missing. */
const UDP_ARRIVAL_LIMIT_MS = 1_000;

const quoted = (texts: readonly string[]) => texts.map((t) => `"${t}"`).join(', ');

async function overTcp({ narrator, signal }: SceneContext): Promise<BoundaryFacts['tcp']> {
  const stage = new Stage();
  try {
    const reads: string[] = [];
    // With the default raw framing, each read from the socket is handed over as one message.
    const server = stage.own(
      await listenTcp({
        host: DEMO_HOST,
        port: 0,
        behaviours: [
          { name: 'record-reads', onMessage: (msg) => void reads.push(msg.data.toString('utf8')) },
        ],
      }),
      (s) => s.close({ force: true }),
    );
    const ended = once(server, 'close') as Promise<[Connection, CloseInfo]>;
    const client = await stage.connectTcp(server.address().port, signal);
    // Three writes, one after the other, without waiting for anything in between.
    const writes = WRITES.map((text) => {
      narrator.says('TCP client', 'server', text);
      return client.send(text);
    });
    await Promise.all(writes);
    await client.end();
    await within(client.read({ timeoutMs: STEP_LIMIT_MS }), STEP_LIMIT_MS, 'the server closing', signal);
    const [, info] = await within(ended, STEP_LIMIT_MS, 'the connection closing', signal);
    narrator.event('TCP server', `${plural(reads.length, 'read')}: ${quoted(reads)}`);
    return { writes: [...WRITES], reads, bytes: info.bytesReceived };
  } finally {
    await stage.close();
  }
}

async function overUdp({ narrator, signal }: SceneContext): Promise<BoundaryFacts['udp']> {
  const stage = new Stage();
  try {
    const received: string[] = [];
    const arrived = countdown(WRITES.length);
    const server = stage.own(
      await listenUdp({
        host: DEMO_HOST,
        port: 0,
        behaviours: [
          {
            name: 'record-datagrams',
            onMessage: (msg) => {
              received.push(msg.data.toString('utf8'));
              arrived.tick();
            },
          },
        ],
      }),
      (s) => s.close(),
    );
    const client = await stage.openUdp(server.address().port);
    const sends = WRITES.map((text) => {
      narrator.says('UDP client', 'server', text);
      return client.send(text);
    });
    await Promise.all(sends);
    try {
      await within(arrived.done, UDP_ARRIVAL_LIMIT_MS, 'three datagrams arriving', signal);
    } catch (err) {
      if (!isTimeout(err)) throw err;
    }
    narrator.event('UDP server', `${plural(received.length, 'datagram')}: ${quoted(received)}`);
    return { sent: [...WRITES], received };
  } finally {
    await stage.close();
  }
}

export async function boundariesPart(ctx: SceneContext): Promise<BoundaryFacts> {
  const { narrator } = ctx;
  narrator.part('a) Message boundaries');
  narrator.explain('Each client makes 3 writes, one right after the other; the server counts its reads.');
  const tcp = await overTcp(ctx);
  const n = WRITES.length;
  if (tcp.reads.length === 1) {
    narrator.explain(
      `TCP: ${n} writes, 1 read. TCP carries a stream of bytes, not messages: all ${n} writes had reached ` +
        "the server's kernel buffer before it read, so one read took them all.",
    );
  } else if (tcp.reads.length === n && tcp.reads.every((r, i) => r === WRITES[i])) {
    narrator.explain(
      `TCP: ${n} writes, ${n} reads, this time: the server happened to read between the writes. That is ` +
        'timing, not a promise: TCP carries a stream of bytes, and with more data or a busier machine ' +
        'writes merge or split.',
    );
  } else {
    narrator.explain(
      `TCP: ${n} writes, ${tcp.reads.length} reads: TCP carries a stream of bytes, and the reads cut it ` +
        'wherever the data happened to be when the server read.',
    );
  }
  narrator.explain(
    'A protocol on TCP must mark its own messages: one per line (socklab listen --lines), or a length ' +
      'before each.',
  );
  const udp = await overUdp(ctx);
  const whole = udp.received.length === n && udp.received.every((r, i) => r === WRITES[i]);
  narrator.explain(
    whole
      ? `UDP: ${n} datagrams sent, ${n} received, each whole: a datagram is a message.`
      : `UDP: ${n} datagrams sent, ${udp.received.length} received, each one whole: a datagram is a ` +
          'message, but UDP does not promise that it arrives (see b).',
  );
  return { tcp, udp };
}
