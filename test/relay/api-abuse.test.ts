/**
 * A small, bounded abuse run against the real `socklab relay --api`: forged cross-origin POSTs and
 * more slow API clients than the API takes, while data flows through the relay. What must hold:
 * no relay is created, the slow clients are closed within the header timeout, the fds they may
 * hold are capped, the data path and (once they are gone) the API serve, and the operator reads
 * one line about it, not a stack.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { API_HEADERS_TIMEOUT_MS, MAX_API_CONNECTIONS } from '../../src/relay/api.js';
import { apiRequest, slowClient, type SlowClient } from '../helpers/api-client.js';
import { startCli } from '../helpers/cli.js';
import { collect, connect, echo, tcpServer, within } from '../helpers/relay-peers.js';

const SLOW_CLIENTS = MAX_API_CONNECTIONS + 16;

/** What pages at other origins can send (no preflight for the first and last). */
function forged(port: number): Promise<number>[] {
  const relay = JSON.stringify({ name: 'ssh', listen: ':0', upstream: '127.0.0.1:22' });
  const variants: Record<string, string>[] = [
    { 'content-type': 'text/plain', origin: 'http://evil.example', host: `evil.example:${port}` },
    { 'content-type': 'text/plain', origin: 'http://evil.example' },
    { 'content-type': 'application/json', origin: 'http://evil.example' },
    { 'content-type': 'text/plain', host: `rebound.example:${port}` },
    { 'content-type': 'application/x-www-form-urlencoded', origin: 'null' },
  ];
  return variants.map((headers) =>
    apiRequest(port, { method: 'POST', path: '/relays', headers, body: relay, timeoutMs: 3000 }).then(
      (r) => r.status,
      () => 0, // closed without an answer (over the cap): refused too
    ),
  );
}

async function roundTrip(port: number, message: string): Promise<string> {
  const client = await connect(port);
  const result = collect(client);
  client.end(message);
  return (await within(result, 3000, 'an echo through the relay')).data.toString();
}

async function openFds(pid: number): Promise<number | undefined> {
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return undefined; // not Linux
  }
}

test('abuse run: forged-origin POSTs and slow API clients change nothing and are gone in seconds', async (t) => {
  const upstream = await tcpServer(echo);
  t.after(() => upstream.close());
  const cli = await startCli([
    'relay',
    '127.0.0.1:0',
    `127.0.0.1:${upstream.port}`,
    '--name',
    'web',
    '--api',
    '127.0.0.1:0',
  ]);
  t.after(() => void cli.stop('SIGKILL'));
  await cli.waitFor(/api on http:\/\/127\.0\.0\.1:\d+\n/, 'stderr');
  const apiPort = Number(/api on http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.stderr())![1]);
  const relayPort = cli.ports[0]!;
  const fdsBefore = await openFds(cli.child.pid!);

  for (const status of await Promise.all(forged(apiPort)))
    assert.ok([403, 415].includes(status), `got ${status}`);

  const slow: SlowClient[] = [];
  t.after(() => slow.forEach((c) => c.socket.destroy()));
  const started = performance.now();
  for (let i = 0; i < SLOW_CLIENTS; i++) {
    slow.push(
      await slowClient(apiPort, `POST /relays HTTP/1.1\r\nHost: 127.0.0.1:${apiPort}\r\nX-Slow: ${i}`),
    );
  }
  // While the API is full: the data path serves, forged requests are still refused, fds are capped.
  assert.equal(await roundTrip(relayPort, 'through'), 'through');
  for (const status of await Promise.all(forged(apiPort)))
    assert.ok([0, 403, 415].includes(status), `got ${status}`);
  const fdsDuring = await openFds(cli.child.pid!);
  if (fdsBefore !== undefined && fdsDuring !== undefined)
    assert.ok(
      fdsDuring - fdsBefore <= MAX_API_CONNECTIONS + 8,
      `${fdsBefore} fds before, ${fdsDuring} during`,
    );

  const deadline = API_HEADERS_TIMEOUT_MS + 2000;
  const closed = await within(
    Promise.all(slow.map((c) => c.closed)),
    deadline,
    'every slow client to be closed',
  );
  assert.ok(performance.now() - started < deadline);
  const answered = closed.filter((c) => c.data.startsWith('HTTP/1.1 408 ')).length;
  assert.equal(answered, MAX_API_CONNECTIONS, 'the ones it took got a 408; the others were closed at once');

  const list = await apiRequest(apiPort, { path: '/relays' });
  assert.equal(list.status, 200);
  assert.deepEqual(Object.keys(list.body!), ['web'], 'no relay was created');
  assert.equal(await roundTrip(relayPort, 'still through'), 'still through');

  const result = await cli.stop('SIGINT');
  assert.equal(result.code, 130, result.stderr);
  const capLines = result.stderr.match(/^api: .*$/gm) ?? [];
  assert.deepEqual(capLines, [
    `api: ${MAX_API_CONNECTIONS} connections at once, the most it takes: closing new ones (slow or stuck clients?)`,
  ]);
  assert.doesNotMatch(result.stderr, /internal error|Error:| {4}at /);
});
