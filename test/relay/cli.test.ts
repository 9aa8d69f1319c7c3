/** `socklab relay`: argv → options, and the real bin end to end. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoint } from '../../src/address.js';
import { parse } from '../../src/cli/commands/relay.js';
import { runCli, startCli } from '../helpers/cli.js';
import {
  collect,
  connect,
  connectAndCollect,
  echo,
  tcpServer,
  udpClient,
  udpServer,
  until,
  within,
} from '../helpers/relay-peers.js';
import { closedPort } from '../helpers/ports.js';

test('impairments apply to both directions, or to those chosen by --up/--down before them', () => {
  const o = parse([
    'udp://:9000',
    '127.0.0.1:9090',
    '--delay',
    '40ms',
    '--jitter',
    '10ms',
    '--up',
    '--loss',
    '10%',
    '--down',
    '--duplicate',
    '1%',
    '--both',
    '--rate',
    '1mbit',
    '--seed',
    '7',
  ]);
  assert.equal(o.seed, 7);
  const [relay] = o.relays;
  assert.equal((relay!.listen as Endpoint).transport, 'udp');
  assert.deepEqual(
    relay!.upstream,
    { transport: 'udp', host: '127.0.0.1', port: 9090 },
    'TARGET takes the scheme of LISTEN',
  );
  assert.deepEqual(relay!.faults, [
    { type: 'delay', direction: 'both', params: { delayMs: 40, jitterMs: 10 } },
    { type: 'loss', direction: 'up', params: { model: 'random', lossRate: 0.1 } },
    { type: 'duplicate', direction: 'down', params: { duplicateRate: 0.01 } },
    { type: 'rate', direction: 'both', params: { rateBytesPerSec: 125_000 } },
  ]);
});

test('gemodel loss, probability, limits', () => {
  const o = parse([
    '-u',
    '5353',
    '127.0.0.1:53',
    '--loss',
    'gemodel 1% 30%',
    '--probability',
    '50%',
    '--max-flows',
    '10',
  ]);
  assert.deepEqual(o.relays[0]!.faults, [
    {
      type: 'loss',
      direction: 'both',
      probability: 0.5,
      params: { model: 'gemodel', goodToBadRate: 0.01, badToGoodRate: 0.3 },
    },
  ]);
  assert.equal(o.relays[0]!.maxFlows, 10);
  assert.equal((o.relays[0]!.listen as Endpoint).host, '127.0.0.1');
});

test('usage errors: one line each', () => {
  const cases: [string[], RegExp][] = [
    [['udp://:0', '127.0.0.1:9', '--loss', '150%'], /^--loss: '150%' is out of range \(0% to 100%\)$/],
    [['0', '127.0.0.1:9', '--delay', '-5ms'], /^--delay: '-5ms' is negative/],
    [
      ['udp://:0', '127.0.0.1:9', '--slice', '100'],
      /^--slice: slice is a TCP \(stream\) fault; this relay is UDP$/,
    ],
    [
      ['0', '127.0.0.1:9', '--loss', '1%'],
      /^--loss: loss is a UDP fault: on TCP every byte read is forwarded/,
    ],
    [['udp://:0', '127.0.0.1:9', '--reorder', '10%'], /^--reorder needs --delay in the same direction/],
    [['udp://:0', '127.0.0.1:9', '--reorder-gap', '3'], /^--reorder-gap needs --reorder$/],
    [['0', '127.0.0.1:9', '--delay', '1ms', '--delay', '2ms'], /^--delay is given twice$/],
    [['0', '127.0.0.1:9', '--up', '--delay', '1ms', '--delay', '2ms'], /^--delay is given twice \(--up\)$/],
    [['0'], /^needs LISTEN and TARGET/],
    [['udp://:0', 'tcp://127.0.0.1:9'], /^cannot relay udp to tcp/],
    [['0', '127.0.0.1:9', '--max-flows', '3'], /^--max-flows is for UDP flows/],
    [['0', '127.0.0.1:9', '--wormhole', '3'], /^unknown option '--wormhole'/],
    // A direction flag scopes the impairments after it; one that scopes nothing is a mistake.
    [['udp://:0', '127.0.0.1:9', '--loss', '50%', '--up'], /^--up applies to the impairments after it/],
    [
      ['udp://:0', '127.0.0.1:9', '--down', '--up', '--loss', '5%'],
      /^--down applies to the impairments after it/,
    ],
    [
      ['udp://:0', '127.0.0.1:9', '--probability', '50%'],
      /^--probability applies to the faults given with it/,
    ],
    [['0', '127.0.0.1:9', '--jitter', '10ms'], /^--jitter needs --delay$/],
    [['0', '127.0.0.1:9', '--config', 'relays.yaml'], /^--config FILE and LISTEN TARGET: give one/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parse(argv), { code: 'SOCKLAB_ERR_USAGE', message }, argv.join(' '));
  }
});

test('socklab relay: bad input exits 2 (usage) or 1 (network) with one line', async () => {
  const usage = await runCli(['relay', 'udp://:0', '127.0.0.1:9090', '--loss', '150%']);
  assert.equal(usage.code, 2);
  assert.equal(
    usage.stderr,
    "socklab relay: --loss: '150%' is out of range (0% to 100%) (see 'socklab relay --help')\n",
  );
  const negative = await runCli(['relay', '0', '127.0.0.1:9090', '--delay', '-5ms']);
  assert.equal(negative.code, 2);
  assert.equal(negative.stderr.split('\n').length, 2);
  const tcpOnly = await runCli(['relay', 'udp://:0', '127.0.0.1:9090', '--stall', '1s']);
  assert.equal(tcpOnly.code, 2);
  assert.match(tcpOnly.stderr, /^socklab relay: --stall: stall is a TCP \(stream\) fault; this relay is UDP/);
  const dns = await runCli(['relay', '0', 'nohost.invalid:80']);
  assert.equal(dns.code, 1);
  assert.match(
    dns.stderr,
    /^socklab relay: cannot resolve the upstream tcp:\/\/nohost\.invalid:80: host not found \(ENOTFOUND\)\n$/,
  );
  const help = await runCli(['relay', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:/);
});

test('socklab relay (UDP): forwards with seeded loss, prints the real port, and a summary on Ctrl-C', async (t) => {
  const server = await udpServer();
  t.after(() => server.close());
  const relay = await startCli([
    'relay',
    'udp://127.0.0.1:0',
    `127.0.0.1:${server.port}`,
    '--up',
    '--loss',
    '50%',
    '--seed',
    '7',
  ]);
  t.after(() => void relay.stop('SIGKILL'));
  assert.match(
    relay.stderr(),
    new RegExp(
      `^relay udp://127\\.0\\.0\\.1:\\d+ → udp://127\\.0\\.0\\.1:${server.port}: loss 50% up \\(seed 7\\)\\n`,
    ),
  );
  const client = await udpClient(relay.ports[0]!);
  t.after(() => client.close());
  for (let i = 0; i < 40; i++) client.send(`n${i}`);
  await until(() => client.received.length >= 10, 5000, 'some replies');
  const result = await relay.stop('SIGINT');
  assert.equal(result.code, 130);
  assert.match(
    result.stderr,
    /relay: 1 flows, 0 refused, 0 upstream errors, 0 expired\n {2}up: {3}forwarded \d+ \(\d+ bytes\), dropped \d+/,
  );
  assert.equal(result.stdout, '');
});

test('socklab relay (TCP): a refused target is reported in one line and the relay keeps serving', async (t) => {
  const port = await closedPort();
  const relay = await startCli(['relay', '0', `127.0.0.1:${port}`, '--delay', '1ms']);
  t.after(() => void relay.stop('SIGKILL'));
  await within(connectAndCollect(relay.ports[0]!), 5000, 'the first client to be closed');
  await relay.waitFor(
    `relay: cannot connect to tcp://127.0.0.1:${port}: connection refused (ECONNREFUSED) (connection #1 from 127.0.0.1:`,
    'stderr',
  );
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay2 = await startCli(['relay', '0', `127.0.0.1:${server.port}`, '-v']);
  t.after(() => void relay2.stop('SIGKILL'));
  const second = await connect(relay2.ports[0]!);
  const r = collect(second);
  second.end('still here');
  assert.equal((await within(r, 5000, 'the echo')).data.toString(), 'still here');
  await relay2.waitFor(/closed connection #1 from 127\.0\.0\.1:\d+: 10 bytes up, 10 down/, 'stderr');
  // The first relay is still running, and still says why.
  await within(connectAndCollect(relay.ports[0]!), 5000, 'the second client to be closed');
  assert.equal(relay.child.exitCode, null);
});

test('--memory: one budget for the relays of the process; a line at exit says when it was spent', async (t) => {
  assert.equal(parse(['0', '127.0.0.1:9', '--memory', '512mb']).memoryBudgetBytes, 512 * 1024 * 1024);
  assert.throws(() => parse(['0', '127.0.0.1:9', '--memory', '10kb']), {
    code: 'SOCKLAB_ERR_USAGE',
    message: /^--memory: 10kb is below 1mb/,
  });
  const server = await tcpServer((socket) => socket.end(Buffer.alloc(32 << 20, 1)));
  t.after(() => server.close());
  const relay = await startCli([
    'relay',
    '0',
    `127.0.0.1:${server.port}`,
    '--delay',
    '1s',
    '--memory',
    '1mb',
  ]);
  t.after(() => void relay.stop('SIGKILL'));
  const client = await connect(relay.ports[0]!);
  t.after(() => client.destroy());
  client.pause();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const result = await relay.stop('SIGINT');
  assert.match(
    result.stderr,
    /\nrelay: the memory budget \(1MiB, --memory\) was spent: [1-9]\d* reads held back, 0 datagrams dropped\n$/,
  );
});

test('a refused target, client after client: said once, then counted (not one line per connection)', async (t) => {
  const port = await closedPort();
  const relay = await startCli(['relay', '0', `127.0.0.1:${port}`]);
  t.after(() => void relay.stop('SIGKILL'));
  for (let i = 0; i < 5; i++)
    await within(connectAndCollect(relay.ports[0]!), 5000, `client ${i + 1} to be closed`);
  const result = await relay.stop('SIGINT');
  const lines = result.stderr.split('\n').filter((l) => l.includes('cannot connect to'));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(result.stderr, /5 upstream errors/);
});
