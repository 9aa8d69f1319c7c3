/**
 * Scene 4c: connection. On a port where nothing listens, a TCP connect is refused at once; a UDP
 * datagram is "sent" without error, and at most an ICMP "port unreachable" comes back later.
 */
import { formatAddress } from '../address.js';
import { connectTcp } from '../client/tcp-client.js';
import { listenTcp, type TcpServer } from '../server/tcp-server.js';
import { listenUdp, type UdpServer } from '../server/udp-server.js';
import { isSocklabError, systemCode } from '../errors.js';
import type { ClosedPortFacts } from './facts.js';
import { ms } from './format.js';
import { DEMO_HOST, isTimeout, since, Stage, STEP_LIMIT_MS, within, type SceneContext } from './stage.js';

const PROBE = 'anyone there?';
/** An ICMP error comes back from loopback within a millisecond; waiting longer only tells "nothing". */
const ICMP_WAIT_MS = 500;
/** Tries at finding a port number free for TCP and UDP alike. */
const PORT_TRIES = 5;

/**
 * A port number on which nothing listens, for TCP or UDP: one the OS gives a TCP server, which
 * then also takes it for UDP (so no other program holds it there), after which both close.
 */
async function freePort(): Promise<number> {
  let port = 0;
  for (let attempt = 0; attempt < PORT_TRIES; attempt++) {
    const tcp: TcpServer = await listenTcp({ host: DEMO_HOST, port: 0, behaviours: [] });
    port = tcp.address().port;
    let udp: UdpServer | undefined;
    try {
      udp = await listenUdp({ host: DEMO_HOST, port, behaviours: [] });
    } catch (err) {
      if (!isSocklabError(err, 'SOCKLAB_ERR_BIND')) throw err;
      // Another program has this number for UDP: ask for another one.
    } finally {
      await tcp.close({ force: true });
      await udp?.close();
    }
    if (udp) return port;
  }
  return port; // closed for TCP at least; the UDP result below says what really happened
}

async function probeTcp({ narrator, signal }: SceneContext, port: number): Promise<ClosedPortFacts['tcp']> {
  narrator.event('TCP client', `connect to ${formatAddress({ transport: 'tcp', host: DEMO_HOST, port })}`);
  const start = performance.now();
  try {
    const client = await within(
      connectTcp({ host: DEMO_HOST, port, connectTimeoutMs: STEP_LIMIT_MS }),
      STEP_LIMIT_MS,
      'the TCP connect',
      signal,
      (late) => late.destroy(),
    );
    const elapsed = since(start);
    client.destroy();
    const message = 'connected: another program took the port in the meantime';
    narrator.event('TCP client', message);
    return { refused: false, code: null, message, ms: elapsed };
  } catch (err) {
    const elapsed = since(start);
    if (!isSocklabError(err, 'SOCKLAB_ERR_CONNECT') && !isTimeout(err)) throw err;
    const code = systemCode(err.cause) ?? err.code;
    narrator.event('TCP client', `failed after ${ms(elapsed)}: ${err.message}`);
    return { refused: code === 'ECONNREFUSED', code, message: err.message, ms: elapsed };
  }
}

async function probeUdp({ narrator, signal }: SceneContext, port: number): Promise<ClosedPortFacts['udp']> {
  const stage = new Stage();
  try {
    const client = await stage.openUdp(port);
    narrator.says('UDP client', 'nobody', PROBE);
    const start = performance.now();
    let sendError: string | null = null;
    try {
      await client.send(PROBE);
    } catch (err) {
      if (!isSocklabError(err)) throw err;
      sendError = err.message;
    }
    const sendMs = since(start);
    narrator.event(
      'UDP client',
      sendError === null
        ? `send() returned after ${ms(sendMs)}, no error: "sent"`
        : `send() failed: ${sendError}`,
    );
    // The client's socket is connected (it knows its one peer), so the kernel can hand it the ICMP
    // error that answers the datagram; it shows on the next read.
    const waitStart = performance.now();
    let afterwards: ClosedPortFacts['udp']['afterwards'];
    let message: string;
    try {
      const reply = await within(
        client.receive({ timeoutMs: ICMP_WAIT_MS }),
        STEP_LIMIT_MS,
        'the UDP reply',
        signal,
      );
      afterwards = 'a-reply';
      message = `a reply came: ${reply?.data.toString('utf8') ?? '(socket closed)'}`;
    } catch (err) {
      if (isSocklabError(err, 'SOCKLAB_ERR_CONNECT')) {
        afterwards = 'port-unreachable';
        message = err.message;
      } else if (isTimeout(err)) {
        afterwards = 'nothing';
        message = `nothing came back within ${ms(ICMP_WAIT_MS)}`;
      } else if (isSocklabError(err, 'SOCKLAB_ERR_SOCKET')) {
        afterwards = 'other-error';
        message = err.message;
      } else {
        throw err;
      }
    }
    const waitedMs = since(waitStart);
    narrator.event(
      'UDP client',
      afterwards === 'port-unreachable' ? `next read, ${ms(waitedMs)} later: ${message}` : message,
    );
    return { sendError, sendMs, afterwards, message, waitedMs };
  } finally {
    await stage.close();
  }
}

export async function closedPortPart(ctx: SceneContext): Promise<ClosedPortFacts> {
  const { narrator } = ctx;
  narrator.part('c) Connection');
  const port = await freePort();
  narrator.explain(`Port ${port} on ${DEMO_HOST} was just closed: nothing listens there, for TCP or UDP.`);
  const tcp = await probeTcp(ctx, port);
  if (tcp.refused) {
    narrator.explain(
      'TCP: the kernel answered the connection request (SYN) with a reset: the client knows at once ' +
        'that nobody is there, before sending a single byte.',
    );
  }
  const udp = await probeUdp(ctx, port);
  if (udp.afterwards === 'port-unreachable') {
    narrator.explain(
      'UDP: sending "worked": a datagram needs no one at the other end. The kernel then got an ICMP ' +
        '"port unreachable" back, and passed it on only because socklab\'s client connects its UDP ' +
        "socket (which sends nothing, it only fixes the peer); the seeds' sendto() on an unconnected " +
        'socket is not told (Linux udp(7)).',
    );
  } else if (udp.afterwards === 'nothing') {
    narrator.explain(
      'UDP: sending "worked", and nothing came back: from the sender\'s side, a closed port and a lost ' +
        'datagram look the same.',
    );
  } else {
    narrator.explain('UDP: sending "worked": a datagram needs no one at the other end to be sent.');
  }
  return { port, tcp, udp };
}
