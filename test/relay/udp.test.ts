/** The UDP relay on real sockets: flows, replies to the right client, seeded faults, limits. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { createRelay, type Relay, type RelayOptions } from '../../src/relay/relay.js';
import { closedPort } from '../helpers/ports.js';
import { udpClient, udpServer, until, within } from '../helpers/relay-peers.js';
import { numberOf, numbered } from '../helpers/relay-harness.js';

async function relayTo(
  port: number,
  t: { after: (fn: () => Promise<void>) => void },
  options: Partial<RelayOptions> = {},
): Promise<Relay> {
  const relay = await createRelay({
    listen: 'udp://127.0.0.1:0',
    upstream: `udp://127.0.0.1:${port}`,
    seed: 1,
    ...options,
  });
  t.after(() => relay.close());
  return relay;
}

test('each client gets its own flow, and its own replies', async (t) => {
  const server = await udpServer((d) => Buffer.from(`re: ${d.toString()}`));
  t.after(() => server.close());
  const relay = await relayTo(server.port, t);
  const a = await udpClient(relay.address().port);
  const b = await udpClient(relay.address().port);
  t.after(() => Promise.all([a.close(), b.close()]).then(() => undefined));
  a.send('alice 1');
  b.send('bob 1');
  a.send('alice 2');
  await a.waitFor(2);
  await b.waitFor(1);
  assert.deepEqual(a.received.map(String).sort(), ['re: alice 1', 're: alice 2']);
  assert.deepEqual(b.received.map(String), ['re: bob 1']);
  assert.equal(relay.stats().active, 2);
  assert.equal(relay.counters().up.forwarded.packets, 3);
  assert.equal(relay.counters().down.forwarded.packets, 3);
});

/** Send `n` numbered datagrams through a relay with `faults`; the numbers that reached the server. */
async function pattern(
  t: Parameters<typeof relayTo>[1],
  n: number,
  options: Partial<RelayOptions>,
): Promise<number[]> {
  const arrived: number[] = [];
  const server = await udpServer((d) => {
    arrived.push(numberOf(d));
    return undefined;
  });
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, options);
  const client = await udpClient(relay.address().port);
  t.after(() => client.close());
  for (let i = 0; i < n; i++) {
    client.send(numbered(i));
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  const c = () => relay.counters().up;
  await until(
    () => c().forwarded.packets + c().dropped.packets - c().duplicated.packets >= n,
    5000,
    'every datagram handled',
  );
  await until(() => arrived.length >= c().forwarded.packets, 5000, 'the forwarded datagrams to arrive');
  return arrived;
}

test('loss over real sockets: the same seed drops the same datagrams, another seed others', async (t) => {
  const options = (seed: number): Partial<RelayOptions> => ({
    seed,
    faults: [{ type: 'loss', direction: 'up', params: { lossRate: '20%' } }],
  });
  const a = await pattern(t, 500, options(7));
  const b = await pattern(t, 500, options(7));
  const c = await pattern(t, 500, options(8));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.length > 350 && a.length < 450, `${a.length} of 500 arrived`);
});

test('duplicate and reorder over real sockets replay exactly for a seed', async (t) => {
  const options: Partial<RelayOptions> = {
    seed: 11,
    faults: [
      { type: 'duplicate', direction: 'up', params: { duplicateRate: '10%' } },
      { type: 'delay', direction: 'up', params: { delayMs: 20 } },
      { type: 'reorder', direction: 'up', params: { reorderRate: '10%', gap: 3 } },
    ],
  };
  const a = await pattern(t, 300, options);
  const b = await pattern(t, 300, options);
  assert.ok(a.length > 300, 'some were duplicated');
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    [...b].sort((x, y) => x - y),
    'the same duplicates',
  );
  assert.ok(
    a.some((x, i) => i > 0 && x < a[i - 1]!),
    'some arrived out of order',
  );
});

test('delay: a reply takes at least the delay each way', async (t) => {
  const server = await udpServer();
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, {
    faults: [{ type: 'delay', params: { delayMs: 50, jitterMs: 5 } }],
  });
  const client = await udpClient(relay.address().port);
  t.after(() => client.close());
  const start = performance.now();
  client.send('ping');
  await client.waitFor(1);
  const rtt = performance.now() - start;
  assert.ok(rtt >= 90, `round trip ${rtt.toFixed(1)} ms >= 2 x (50 - 5) ms`);
});

test('idle flows expire; a flow limit refuses new clients and counts them', async (t) => {
  const server = await udpServer();
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, { flowIdleMs: 50, maxFlows: 2 });
  const clients = await Promise.all([1, 2, 3].map(() => udpClient(relay.address().port)));
  t.after(() => Promise.all(clients.map((c) => c.close())).then(() => undefined));
  const refused = once(relay, 'refused');
  clients[0]!.send('a');
  await clients[0]!.waitFor(1);
  clients[1]!.send('b');
  await clients[1]!.waitFor(1);
  clients[2]!.send('c');
  const [peer, reason] = (await within(refused, 5000, 'the refusal')) as [string, string];
  assert.match(peer, /^127\.0\.0\.1:\d+$/);
  assert.equal(reason, '2 flows already open');
  assert.equal(relay.stats().refused, 1);
  await until(() => relay.stats().active === 0, 5000, 'the flows to expire');
  assert.equal(relay.stats().expired, 2);
  clients[2]!.send('c again');
  await clients[2]!.waitFor(1);
  assert.equal(clients[2]!.received.map(String).join(), 'c again');
});

test('an unreachable target is reported once per flow, and the relay goes on', async (t) => {
  const port = await closedPort('udp');
  const relay = await relayTo(port, t);
  const client = await udpClient(relay.address().port);
  t.after(() => client.close());
  const reported = once(relay, 'upstreamError');
  const sending = setInterval(() => client.send('anyone?'), 20);
  t.after(() => clearInterval(sending));
  const [, error] = (await within(reported, 5000, 'the report')) as [unknown, Error & { code: string }];
  clearInterval(sending);
  assert.equal(error.code, 'SOCKLAB_ERR_SOCKET');
  assert.match(
    error.message,
    new RegExp(
      `^cannot reach udp://127\\.0\\.0\\.1:${port} for 127\\.0\\.0\\.1:\\d+: connection refused \\(ECONNREFUSED\\)$`,
    ),
  );
  assert.equal(relay.stats().active, 1, 'the flow stays: the target may come up');
});

test('bad input: a TCP fault on UDP, a bad rate', async () => {
  await assert.rejects(
    createRelay({
      listen: 'udp://127.0.0.1:0',
      upstream: '127.0.0.1:9',
      faults: [{ type: 'slice', params: { averageSizeBytes: 10 } }],
    }),
    { code: 'SOCKLAB_ERR_USAGE', message: "fault 'slice': slice is a TCP (stream) fault; this relay is UDP" },
  );
  await assert.rejects(
    createRelay({
      listen: 'udp://127.0.0.1:0',
      upstream: '127.0.0.1:9',
      faults: [{ type: 'loss', params: { lossRate: '150%' } }],
    }),
    { code: 'SOCKLAB_ERR_USAGE', message: "fault 'loss' lossRate: '150%' is out of range (0% to 100%)" },
  );
  await assert.rejects(
    createRelay({
      listen: 'udp://127.0.0.1:0',
      upstream: '127.0.0.1:9',
      faults: [{ type: 'reorder', params: { reorderRate: 0.1 } }],
    }),
    { code: 'SOCKLAB_ERR_USAGE', message: /reorder needs a delay in the same direction/ },
  );
});
