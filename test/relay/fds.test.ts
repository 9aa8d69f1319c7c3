/**
 * A relay out of file descriptors (started with `prlimit --nofile=64`): it says so once, by its
 * name, counts the rest in its summary, and goes on serving (no line per connection, no crash).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { test } from 'node:test';
import { startCli } from '../helpers/cli.js';
import { echo, tcpServer, udpServer, within } from '../helpers/relay-peers.js';
import { findExecutable } from '../helpers/spawn.js';

const CLIENTS = 200;
/** About 20 descriptors for node itself; each TCP pair takes two, each UDP flow one. */
const NOFILE = 64;

const linesAbout = (stderr: string, pattern: RegExp) => stderr.split('\n').filter((l) => pattern.test(l));

test('TCP: out of file descriptors is one line that says so, then a count in the summary', async (t) => {
  const prlimit = await findExecutable('prlimit');
  if (prlimit === undefined) return t.skip('prlimit (util-linux) is not installed');
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await startCli(['relay', '0', `127.0.0.1:${server.port}`], {
    prefix: [prlimit, `--nofile=${NOFILE}`],
  });
  t.after(() => void relay.stop('SIGKILL'));
  const clients: net.Socket[] = [];
  t.after(() => clients.forEach((c) => c.destroy()));
  for (let i = 0; i < CLIENTS; i++) {
    // Held open: those that got a pair keep their descriptors.
    const client = net.connect({ port: relay.ports[0]!, host: '127.0.0.1' });
    clients.push(client);
    // Connected, or reset already (libuv, out of descriptors at accept, may close it itself).
    const settled = await within(
      new Promise<boolean>((resolve) => {
        client.once('connect', () => resolve(true));
        client.once('error', () => resolve(false));
      }),
      5000,
      `client ${i} to connect or be reset`,
    );
    client.on('error', () => undefined);
    if (settled) client.write('x');
  }
  await relay.waitFor(/out of file descriptors/, 'stderr', 5000);
  const { stderr, code } = await relay.stop('SIGINT');
  const reported = linesAbout(stderr, /EMFILE|ENFILE|file descriptors/);
  t.diagnostic(`${reported.length} lines about it:\n${reported.join('\n')}`);
  assert.equal(code, 130);
  assert.equal(reported.length, 2, 'one line when it happens, one count at exit');
  assert.match(
    reported[0]!,
    /^relay: out of file descriptors \(EMFILE\): the connection from 127\.0\.0\.1:\d+ was reset; raise ulimit -n/,
  );
  const reset = Number(/ (\d+) connections reset for lack of file descriptors$/.exec(reported[1]!)?.[1]);
  // The others never reached the relay: libuv, out of descriptors at accept, closes them itself.
  assert.ok(reset > 0, `${reset} connections counted`);
  assert.match(stderr, /relay: \d+ connections, 0 refused, 0 upstream errors, \d+ connections reset/);
});

for (const native of [true, false]) {
  test(`UDP${native ? '' : ' (node:dgram)'}: out of file descriptors is one line, then a count; the relay goes on`, async (t) => {
    const prlimit = await findExecutable('prlimit');
    if (prlimit === undefined) return t.skip('prlimit (util-linux) is not installed');
    const server = await udpServer();
    t.after(() => server.close());
    const relay = await startCli(['relay', '-u', '0', `127.0.0.1:${server.port}`], {
      prefix: [prlimit, `--nofile=${NOFILE}`],
      ...(native ? {} : { env: { ...process.env, SOCKLAB_NATIVE: '0' } }),
    });
    t.after(() => void relay.stop('SIGKILL'));
    const senders: dgram.Socket[] = [];
    t.after(() => senders.forEach((s) => s.close()));
    for (let i = 0; i < CLIENTS; i++) {
      const sender = dgram.createSocket('udp4');
      senders.push(sender);
      sender.send(`flow ${i}`, relay.ports[0], '127.0.0.1');
      await new Promise((resolve) => setImmediate(resolve));
    }
    await relay.waitFor(/out of file descriptors/, 'stderr', 5000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the last datagrams
    const { stderr, code } = await relay.stop('SIGINT');
    const reported = linesAbout(stderr, /EMFILE|ENFILE|file descriptors/);
    t.diagnostic(`${reported.length} lines about it:\n${reported.join('\n')}`);
    assert.equal(code, 130, `the relay did not crash: ${stderr.slice(-400)}`);
    assert.equal(reported.length, 2, 'one line when it happens, one count at exit');
    assert.match(
      reported[0]!,
      /^relay: out of file descriptors \(EMFILE\): a datagram from 127\.0\.0\.1:\d+ was dropped; raise ulimit -n/,
    );
    const dropped = Number(/ (\d+) datagrams dropped for lack of file descriptors$/.exec(reported[1]!)?.[1]);
    const flows = Number(/relay: (\d+) flows/.exec(stderr)?.[1]);
    assert.ok(dropped > 0 && flows > 0, `${flows} flows, ${dropped} datagrams counted`);
  });
}
