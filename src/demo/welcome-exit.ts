/**
 * Scene 3, seed 003: a server that greets each client with "Welcome!", answers each name with
 * "Hello, NAME!" and hangs up on `exit`, serving three TCP clients at once; then the UDP version,
 * where one client sends Michael, Tracy and Sarah.
 */
import { formatHostPort } from '../address.js';
import type { CloseInfo, Connection } from '../behaviours/behaviour.js';
import { exitWord } from '../behaviours/exit-word.js';
import { reply } from '../behaviours/reply.js';
import { welcome } from '../behaviours/welcome.js';
import { listenTcp, type TcpServer } from '../server/tcp-server.js';
import { listenUdp } from '../server/udp-server.js';
import type { WelcomeClientFacts, WelcomeFacts } from './facts.js';
import { ms, plural } from './format.js';
import {
  countdown,
  DEMO_HOST,
  isTimeout,
  since,
  Stage,
  STEP_LIMIT_MS,
  within,
  type SceneContext,
} from './stage.js';

const GREETING = 'Welcome!';
const TEMPLATE = 'Hello, {msg}!';
const EXIT_WORD = 'exit';
/** Seed 003's server sleeps 1 s before each answer; a tenth of that shows the same thing faster. */
const REPLY_DELAY_MS = 100;
/** Three clients at once, two names each: enough to see the answers interleave. */
const TCP_CLIENTS: readonly (readonly string[])[] = [
  ['Ada', 'Alan'],
  ['Grace', 'Edsger'],
  ['Linus', 'Radia'],
];
const UDP_NAMES = ['Michael', 'Tracy', 'Sarah'] as const;
const UDP_REPLY_WAIT_MS = 1_000;
const UDP_RETRIES = 2;

/** One client's whole conversation: greeting, names, exit, and the server hanging up. */
async function converse(
  { narrator, signal }: SceneContext,
  stage: Stage,
  server: TcpServer,
  clientNumber: number,
  names: readonly string[],
  peers: Map<string, string>,
): Promise<WelcomeClientFacts> {
  const me = `client ${clientNumber}`;
  const client = await stage.connectTcp(server.address().port, signal, `${me}'s connect`);
  const { host, port } = client.localAddress();
  peers.set(formatHostPort(host, port), me);
  narrator.event(me, `connected from port ${port}`);
  // The greeting comes on accept, before the client says anything: read it first, so that it is
  // not mistaken for the answer to the first name.
  const first = await within(
    client.read({ timeoutMs: STEP_LIMIT_MS }),
    STEP_LIMIT_MS,
    `${me}'s greeting`,
    signal,
  );
  const greeting = first?.toString('utf8') ?? '';
  narrator.says('server', me, greeting);
  const replies: string[] = [];
  for (const name of names) {
    narrator.says(me, 'server', name);
    const answer = await within(
      client.request(name, { timeoutMs: STEP_LIMIT_MS }),
      STEP_LIMIT_MS,
      `${me}'s reply`,
      signal,
    );
    narrator.says('server', me, answer);
    replies.push(answer);
  }
  narrator.says(me, 'server', EXIT_WORD);
  await client.send(EXIT_WORD);
  // No answer to `exit`: the server closes the connection, which read() reports as null.
  const after = await within(
    client.read({ timeoutMs: STEP_LIMIT_MS }),
    STEP_LIMIT_MS,
    `${me}'s hang-up`,
    signal,
  );
  const closedAfterExit = after === null;
  narrator.event(
    me,
    closedAfterExit ? 'the server closed the connection, no reply to exit' : `got ${after.toString('utf8')}`,
  );
  await client.end();
  return { client: clientNumber, greeting, names, replies, closedAfterExit };
}

async function overTcp(ctx: SceneContext): Promise<WelcomeFacts['tcp']> {
  const { narrator, signal } = ctx;
  const stage = new Stage();
  try {
    const server = stage.own(
      await listenTcp({
        host: DEMO_HOST,
        port: 0,
        behaviours: [welcome(GREETING), exitWord(EXIT_WORD), reply(TEMPLATE)],
        delayMs: REPLY_DELAY_MS,
      }),
      (s) => s.close({ force: true }),
    );
    // Which client is at which address, so the server's events can name it.
    const peers = new Map<string, string>();
    const allClosed = countdown(TCP_CLIENTS.length);
    server.on('close', (conn: Connection, info: CloseInfo) => {
      allClosed.tick();
      const who = peers.get(conn.peer) ?? conn.peer;
      narrator.event('server', `closed ${who}'s connection after ${plural(info.messages, 'message')}`);
    });
    const start = performance.now();
    const clients = await Promise.all(
      TCP_CLIENTS.map((names, i) => converse(ctx, stage, server, i + 1, names, peers)),
    );
    await within(allClosed.done, STEP_LIMIT_MS, 'every connection closing', signal);
    const elapsedMs = since(start);
    const messages = TCP_CLIENTS.reduce((sum, names) => sum + names.length, 0);
    const oneAtATimeMs = messages * REPLY_DELAY_MS;
    const concurrent = elapsedMs < oneAtATimeMs;
    narrator.measured(
      `${TCP_CLIENTS.length} clients × ${messages / TCP_CLIENTS.length} names, ${REPLY_DELAY_MS} ms before each ` +
        `reply: ${ms(elapsedMs)} in all; one client at a time would take at least ${ms(oneAtATimeMs)}.`,
    );
    const own = clients.every((c) => c.replies.every((r, i) => r === `Hello, ${c.names[i]}!`));
    narrator.explain(
      (concurrent
        ? 'So the clients were served at the same time: seed 003 gives each client a thread; socklab ' +
          'serves them all from one event loop.'
        : 'This time the clients were not served faster than one at a time (a busy machine?).') +
        (own ? ' Each client got its own answers, and only its own.' : ' Some answers went astray!'),
    );
    return { clients, delayMs: REPLY_DELAY_MS, elapsedMs, oneAtATimeMs, concurrent };
  } finally {
    await stage.close();
  }
}

async function overUdp({ narrator, signal }: SceneContext): Promise<WelcomeFacts['udp']> {
  const stage = new Stage();
  try {
    const server = stage.own(
      await listenUdp({ host: DEMO_HOST, port: 0, behaviours: [reply(TEMPLATE)] }),
      (s) => s.close(),
    );
    const senders: string[] = [];
    server.on('message', (msg) => {
      senders.push(msg.peer);
      narrator.event('server', `received from ${msg.peer}`);
    });
    const client = await stage.openUdp(server.address().port);
    const replies: (string | null)[] = [];
    for (const name of UDP_NAMES) {
      narrator.says('client', 'server', name);
      try {
        const answer = await within(
          client.request(name, { timeoutMs: UDP_REPLY_WAIT_MS, retries: UDP_RETRIES }),
          STEP_LIMIT_MS,
          `the reply to ${name}`,
          signal,
        );
        const text = answer.data.toString('utf8');
        narrator.says('server', 'client', text);
        replies.push(text);
      } catch (err) {
        if (!isTimeout(err)) throw err;
        narrator.event('client', `no reply after ${UDP_RETRIES + 1} tries: UDP does not promise one`);
        replies.push(null);
      }
    }
    return { names: [...UDP_NAMES], replies, senders };
  } finally {
    await stage.close();
  }
}

export async function welcomeScene(ctx: SceneContext): Promise<WelcomeFacts> {
  const { narrator } = ctx;
  narrator.heading('3. A greeting, names and an exit word, three clients at once (seed 003)');
  narrator.explain(
    `The server greets each client with "${GREETING}", answers each name with "${TEMPLATE.replace('{msg}', 'NAME')}" ` +
      `and hangs up on "${EXIT_WORD}". It waits ${REPLY_DELAY_MS} ms before each answer (seed 003 sleeps 1 s), ` +
      'and three clients talk to it at once.',
  );
  narrator.part('TCP');
  const tcp = await overTcp(ctx);
  narrator.part('UDP');
  const udp = await overUdp(ctx);
  const oneSender = new Set(udp.senders).size === 1;
  narrator.explain(
    'No greeting and no exit word here: a UDP server cannot greet a client it does not know about ' +
      "(the seed's screenshot shows Welcome! anyway), and there is no connection to close. " +
      (oneSender && udp.senders.length > 0
        ? `All ${udp.senders.length} datagrams came from the same address: the client's one socket.`
        : ''),
  );
  return { tcp, udp };
}
