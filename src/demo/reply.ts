/**
 * Scene 2, seeds 001 and 002: request and reply. The client sends, the server answers with a fixed
 * text: "Hello from server!" over TCP, "Hello from UDP server!" over UDP.
 */
import { once } from 'node:events';
import { formatAddress } from '../address.js';
import type { CloseInfo, Connection } from '../behaviours/behaviour.js';
import { reply } from '../behaviours/reply.js';
import { listenTcp } from '../server/tcp-server.js';
import { listenUdp } from '../server/udp-server.js';
import type { ReplyFacts } from './facts.js';
import { DEMO_HOST, isTimeout, Stage, STEP_LIMIT_MS, within, type SceneContext } from './stage.js';

const TCP_REQUEST = 'Hello from client!';
const TCP_REPLY = 'Hello from server!';
const UDP_REQUEST = 'Hello from UDP client!';
const UDP_REPLY = 'Hello from UDP server!';
/** Each UDP try waits this long for the reply; loopback answers in well under a millisecond. */
const UDP_REPLY_WAIT_MS = 1_000;
/** Either datagram may be lost, so the client asks again, as a UDP program must do itself. */
const UDP_RETRIES = 2;

async function overTcp({ narrator, signal }: SceneContext): Promise<ReplyFacts['tcp']> {
  const stage = new Stage();
  try {
    const server = stage.own(
      await listenTcp({ host: DEMO_HOST, port: 0, behaviours: [reply(TCP_REPLY)] }),
      (s) => s.close({ force: true }),
    );
    const ended = once(server, 'close') as Promise<[Connection, CloseInfo]>;
    const client = await stage.connectTcp(server.address().port, signal);
    narrator.event('client', `connected to ${formatAddress(server.address())}`);
    narrator.says('client', 'server', TCP_REQUEST);
    const answer = await within(
      client.request(TCP_REQUEST, { timeoutMs: STEP_LIMIT_MS }),
      STEP_LIMIT_MS,
      'the TCP reply',
      signal,
    );
    narrator.says('server', 'client', answer);
    await client.end();
    await within(client.read({ timeoutMs: STEP_LIMIT_MS }), STEP_LIMIT_MS, 'the server closing', signal);
    await within(ended, STEP_LIMIT_MS, 'the connection closing', signal);
    return { request: TCP_REQUEST, reply: answer };
  } finally {
    await stage.close();
  }
}

async function overUdp({ narrator, signal }: SceneContext): Promise<ReplyFacts['udp']> {
  const stage = new Stage();
  try {
    const server = stage.own(
      await listenUdp({ host: DEMO_HOST, port: 0, behaviours: [reply(UDP_REPLY)] }),
      (s) => s.close(),
    );
    let answeredTo: string | null = null;
    let requestsSeen = 0;
    server.on('message', (msg) => {
      answeredTo = msg.peer;
      requestsSeen = msg.n;
      narrator.event('server', `a datagram from ${msg.peer}: the address to answer to`);
    });
    const client = await stage.openUdp(server.address().port);
    narrator.says('client', 'server', UDP_REQUEST);
    try {
      const answer = await within(
        client.request(UDP_REQUEST, { timeoutMs: UDP_REPLY_WAIT_MS, retries: UDP_RETRIES }),
        STEP_LIMIT_MS,
        'the UDP reply',
        signal,
      );
      const text = answer.data.toString('utf8');
      narrator.says('server', 'client', text);
      if (requestsSeen > 1) {
        narrator.event(
          'server',
          `got the request ${requestsSeen} times: a reply was lost, the client asked again`,
        );
      }
      return { request: UDP_REQUEST, reply: text, requestsSeen, answeredTo };
    } catch (err) {
      if (!isTimeout(err)) throw err;
      narrator.event('client', `no reply after ${UDP_RETRIES + 1} tries: UDP does not promise one`);
      return { request: UDP_REQUEST, reply: null, requestsSeen, answeredTo };
    }
  } finally {
    await stage.close();
  }
}

export async function replyScene(ctx: SceneContext): Promise<ReplyFacts> {
  const { narrator } = ctx;
  narrator.heading('2. Request and reply (seeds 001 and 002)');
  narrator.explain('The client sends a message; the server answers it with a fixed text.');
  narrator.part('TCP');
  const tcp = await overTcp(ctx);
  narrator.part('UDP');
  const udp = await overUdp(ctx);
  narrator.explain(
    'The TCP server writes its answer on the connection. The UDP server has no connection: it sends ' +
      'a new datagram to the address the request came from (what the seeds get from recvfrom()).',
  );
  return { tcp, udp };
}
