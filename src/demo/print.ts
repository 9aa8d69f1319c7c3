/**
 * Scene 1, seed 000: a server that prints what it receives, and a client that sends one message,
 * first over TCP ("Hello, TCP Server!"), then over UDP ("Hello, UDP Server!").
 */
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { formatAddress } from '../address.js';
import type { CloseInfo, Connection, Message } from '../behaviours/behaviour.js';
import { print } from '../behaviours/print.js';
import { listenTcp } from '../server/tcp-server.js';
import { listenUdp } from '../server/udp-server.js';
import type { PrintFacts } from './facts.js';
import { ms } from './format.js';
import type { Narrator } from './narrator.js';
import { DEMO_HOST, isTimeout, since, Stage, STEP_LIMIT_MS, within, type SceneContext } from './stage.js';

const TCP_MESSAGE = 'Hello, TCP Server!';
const UDP_MESSAGE = 'Hello, UDP Server!';
/** On loopback a datagram arrives in well under a millisecond; a second means it is not coming. */
const UDP_ARRIVAL_LIMIT_MS = 1_000;

/** Where the print behaviour writes: each write is narrated as "server prints" and kept. */
function printOutput(narrator: Narrator, onPrint: (text: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString('utf8');
      narrator.event('server prints', text);
      onPrint(text);
      done();
    },
  });
}

async function overTcp({ narrator, signal }: SceneContext): Promise<PrintFacts['tcp']> {
  const stage = new Stage();
  try {
    let printed = '';
    let clientClosed = false;
    let printedAfterClientClosed = false;
    const out = printOutput(narrator, (text) => {
      printed += text;
      if (clientClosed) printedAfterClientClosed = true;
    });
    const server = stage.own(
      await listenTcp({ host: DEMO_HOST, port: 0, behaviours: [print({ out })] }),
      (s) => s.close({ force: true }),
    );
    let serverConnections = 0;
    server.on('connection', () => (serverConnections += 1));
    narrator.event('server', `listening on ${formatAddress(server.address())} (a free port, from the OS)`);

    const accepted = once(server, 'connection') as Promise<[Connection]>;
    const ended = once(server, 'close') as Promise<[Connection, CloseInfo]>;
    const start = performance.now();
    const client = await stage.connectTcp(server.address().port, signal);
    const connectMs = since(start);
    const [conn] = await within(accepted, STEP_LIMIT_MS, 'the TCP accept', signal);
    narrator.event('client', `connected in ${ms(connectMs)}: the handshake (SYN, SYN-ACK, ACK) came first`);
    narrator.event('server', `accepted a connection from ${conn.peer}`);

    narrator.says('client', 'server', TCP_MESSAGE);
    await client.send(TCP_MESSAGE);
    await client.end();
    clientClosed = true;
    narrator.event('client', 'closes its side of the connection (FIN)');
    // The server prints, sees the end of the stream and closes its side; then read() says null.
    await within(client.read({ timeoutMs: STEP_LIMIT_MS }), STEP_LIMIT_MS, 'the server closing', signal);
    const [, info] = await within(ended, STEP_LIMIT_MS, 'the connection closing', signal);
    narrator.event('server', `connection closed after ${info.bytesReceived} bytes`);
    return {
      sent: TCP_MESSAGE,
      printed,
      connectMs,
      serverConnections,
      bytesReceived: info.bytesReceived,
      printedAfterClientClosed,
    };
  } finally {
    await stage.close();
  }
}

async function overUdp({ narrator, signal }: SceneContext): Promise<PrintFacts['udp']> {
  const stage = new Stage();
  try {
    let printed: string | null = null;
    const out = printOutput(narrator, (text) => (printed = (printed ?? '') + text));
    const server = stage.own(
      await listenUdp({ host: DEMO_HOST, port: 0, behaviours: [print({ out })] }),
      (s) => s.close(),
    );
    narrator.event('server', `listening on ${formatAddress(server.address())}`);
    const handled = once(server, 'handled') as Promise<[Message]>;
    const client = await stage.openUdp(server.address().port);
    narrator.event('client', 'no handshake: its socket just notes the server address, and sends');
    narrator.says('client', 'server', UDP_MESSAGE);
    await client.send(UDP_MESSAGE);
    let from: string | null = null;
    try {
      [{ peer: from }] = await within(handled, UDP_ARRIVAL_LIMIT_MS, 'the datagram arriving', signal);
      narrator.event('server', `the datagram came from ${from}; no connection to accept, none to close`);
    } catch (err) {
      if (!isTimeout(err)) throw err;
      narrator.event(
        'server',
        `nothing arrived within ${ms(UDP_ARRIVAL_LIMIT_MS)}: UDP did not promise it would`,
      );
    }
    return { sent: UDP_MESSAGE, printed, datagrams: server.stats.datagramsReceived, from };
  } finally {
    await stage.close();
  }
}

export async function printScene(ctx: SceneContext): Promise<PrintFacts> {
  const { narrator } = ctx;
  narrator.heading('1. A print server (seed 000)');
  narrator.explain(
    'A server prints what it receives; a client sends it one message. The same program twice: over ' +
      'TCP, then over UDP.',
  );
  narrator.part('TCP');
  const tcp = await overTcp(ctx);
  narrator.part('UDP');
  const udp = await overUdp(ctx);
  narrator.explain(
    'TCP set up a connection before any data moved, and closed it after: the message travelled ' +
      "inside it. UDP set up nothing: the datagram carried its sender's address, and the server " +
      'learned about the client only when it arrived.',
  );
  if (tcp.printedAfterClientClosed) {
    narrator.explain(
      'Notice the order: the TCP client had already closed its side when the server printed. ' +
        'Closing does not lose what was sent: TCP delivers every byte before the FIN.',
    );
  }
  return { tcp, udp };
}
