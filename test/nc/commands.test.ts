/** Access control and exec on `socklab listen` and `socklab relay`, the same rules as `nc`'s. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCli } from '../helpers/cli.js';
import { connectTestClient, udpSocket, nextDatagram } from '../helpers/nc.js';

/** Connect from `localAddress`, send a line and half-close: what came back, or null when refused. */
async function exchange(port: number, localAddress: string, text: string): Promise<string | null> {
  let client;
  try {
    client = await connectTestClient(port, { localAddress });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return null;
    throw err;
  }
  try {
    client.socket.end(text);
    const how = await client.ended();
    return how === 'reset' ? null : client.received().toString();
  } finally {
    client.socket.destroy();
  }
}

test('listen --allow/--deny: CIDR, deny wins, the others reset; -v names them', async (t) => {
  const server = await startCli([
    'listen',
    '0',
    '--echo',
    '-q',
    '-v',
    '--allow',
    '127.0.0.0/29',
    '--deny',
    '127.0.0.2',
  ]);
  t.after(() => server.stop());
  const port = server.ports[0]!;
  assert.equal(await exchange(port, '127.0.0.1', 'one\n'), 'one\n');
  assert.equal(await exchange(port, '127.0.0.2', 'two\n'), null);
  assert.equal(await exchange(port, '127.0.0.9', 'nine\n'), null);
  await server.waitFor(/refused 127\.0\.0\.9:\d+: not allowed/, 'stderr');
});

test('listen -u --deny: datagrams from a denied sender are dropped', async (t) => {
  const server = await startCli(['listen', '-u', '0', '--echo', '--deny', '127.0.0.2']);
  t.after(() => server.stop());
  const port = server.ports[0]!;
  const denied = await udpSocket('127.0.0.2');
  const allowed = await udpSocket('127.0.0.1');
  t.after(() => [denied, allowed].forEach((s) => s.close()));
  denied.send('no\n', port, '127.0.0.1');
  const reply = nextDatagram(allowed);
  allowed.send('yes\n', port, '127.0.0.1');
  assert.equal((await reply).data.toString(), 'yes\n');
  await server.waitFor('yes\n');
  assert.equal(server.stdout(), 'yes\n', 'the denied datagram was neither printed nor echoed');
});

test('listen --exec: one program per client, the reply after the client half-closes', async (t) => {
  const server = await startCli(['listen', '0', '--exec', '/bin/cat']);
  t.after(() => server.stop());
  const port = server.ports[0]!;
  const [a, b] = await Promise.all([exchange(port, '127.0.0.1', 'a\n'), exchange(port, '127.0.0.1', 'b\n')]);
  assert.deepEqual([a, b], ['a\n', 'b\n']);
});

test('listen --sh-exec: NCAT_* in the environment; a program that cannot start closes only that client', async (t) => {
  const server = await startCli(['listen', '0', '--sh-exec', 'echo "$NCAT_PROTO $NCAT_LOCAL_PORT"']);
  t.after(() => server.stop());
  const port = server.ports[0]!;
  assert.equal(await exchange(port, '127.0.0.1', ''), `TCP ${port}\n`);
  const missing = await startCli(['listen', '0', '--exec', '/nonexistent/program']);
  t.after(() => missing.stop());
  // Closed without a word (a FIN, or a reset as what it sent was never read), twice: still serving.
  for (let i = 0; i < 2; i++) assert.ok(!(await exchange(missing.ports[0]!, '127.0.0.1', 'x')));
  await missing.waitFor(/cannot run '\/nonexistent\/program'/, 'stderr');
});

test('listen --exec beyond loopback warns', async (t) => {
  const server = await startCli(['listen', ':0', '--exec', '/bin/cat'], { listening: 1 });
  t.after(() => server.stop());
  await server.waitFor(/warning: anyone who can reach .* can run '\/bin\/cat'/, 'stderr');
});

test('relay --deny: a denied client is reset, the others relayed', async (t) => {
  const target = await startCli(['listen', '0', '--echo', '-q']);
  t.after(() => target.stop());
  const relay = await startCli(['relay', '0', `127.0.0.1:${target.ports[0]}`, '--deny', '127.0.0.2']);
  t.after(() => relay.stop());
  const port = relay.ports[0]!;
  assert.equal(await exchange(port, '127.0.0.1', 'through\n'), 'through\n');
  assert.equal(await exchange(port, '127.0.0.2', 'blocked\n'), null);
  await relay.waitFor(/refused 127\.0\.0\.2:\d+: not allowed/, 'stderr');
});

test('relay -u --allow: only allowed senders get a flow', async (t) => {
  const target = await startCli(['listen', '-u', '0', '--echo', '-q']);
  t.after(() => target.stop());
  const relay = await startCli(['relay', '-u', '0', `127.0.0.1:${target.ports[0]}`, '--allow', '127.0.0.1']);
  t.after(() => relay.stop());
  const port = relay.ports[0]!;
  const allowed = await udpSocket('127.0.0.1');
  const other = await udpSocket('127.0.0.3');
  t.after(() => [allowed, other].forEach((s) => s.close()));
  other.send('no\n', port, '127.0.0.1');
  await relay.waitFor(/refused 127\.0\.0\.3:\d+: not allowed/, 'stderr');
  const reply = nextDatagram(allowed);
  allowed.send('yes\n', port, '127.0.0.1');
  assert.equal((await reply).data.toString(), 'yes\n');
});

test('nc -l --exec beyond loopback warns; on 127.0.0.1 it does not', async (t) => {
  const { SOCKLAB_NC, listenNc } = await import('../helpers/nc.js');
  const wide = await listenNc(SOCKLAB_NC, 'tcp', (port) => ['-l', String(port), '--exec', '/bin/cat']);
  t.after(() => wide.stop());
  assert.match(wide.stderr(), /warning: anyone who can reach .* can run '\/bin\/cat' \(--exec\)/);
  const local = await listenNc(SOCKLAB_NC, 'tcp', (port) => [
    '-l',
    '127.0.0.1',
    String(port),
    '--exec',
    '/bin/cat',
  ]);
  t.after(() => local.stop());
  assert.doesNotMatch(local.stderr(), /warning/);
});
