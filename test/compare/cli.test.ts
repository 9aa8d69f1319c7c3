/** `socklab compare` as users run it: the real bin, its output, its errors and exit codes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from '../../src/cli/commands/compare.js';
import { BIN, runCli } from '../helpers/cli.js';
import { runProcess } from '../helpers/spawn.js';

test('flags → options: workload, faults per lane, a sweep', () => {
  const o = parse([
    '--messages',
    '50',
    '--interval',
    '2ms',
    '--delay',
    '10ms',
    '--loss',
    '0,1%,5%',
    '--seed',
    '3',
  ]);
  assert.deepEqual(o.workload, { kind: 'paced', messages: 50, sizeBytes: 200, intervalMs: 2 });
  assert.equal(o.seed, 3);
  assert.equal(o.sweep?.fault, 'loss');
  assert.deepEqual(
    o.sweep?.points.map((p) => p.value),
    ['0', '1%', '5%'],
  );
  const last = o.sweep.points[2]!.faults;
  assert.ok(last.some((f) => f.type === 'loss' && (f.params as { lossRate: number }).lossRate === 0.05));
  assert.ok(last.some((f) => f.type === 'delay'));
  const r = parse(['--requests', '10', '--up', '--loss', '5%', '--reset-after', '1kb']);
  assert.equal(r.workload.kind, 'request');
  assert.deepEqual(
    r.faults?.map((f) => `${f.type}/${f.direction}`),
    ['reset-after/up', 'loss/up'],
  );
});

for (const [args, pattern] of [
  [['--messages', '0'], /--messages 0: nothing to send/],
  [['--size', '70000'], /larger than a UDP datagram can carry/],
  [['--size', '100,200'], /only a fault can be swept/],
  [['--loss', '1%,2%', '--delay', '1ms,2ms'], /sweep one fault at a time/],
  [['--lossy', '1%,2%'], /unknown option '--lossy'/],
  [['--via', 'carrier-pigeon'], /expected link, relay or auto/],
  [['--bytes', '1mb', '--messages', '5'], /give one workload/],
] as const) {
  test(`bad input ${args.join(' ')}: one line, exit 2`, async () => {
    const r = await runCli(['compare', ...args]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^socklab compare: /);
    assert.match(r.stderr, pattern);
  });
}

test('--via link with a fault only a stream relay has: one line, exit 2', async () => {
  const r = await runCli(['compare', '--via', 'link', '--slice', '10', '--messages', '5']);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^socklab compare: link fault 'slice': slice is a stream fault; the link carries IP packets/,
  );
  assert.equal(r.stderr.split('\n').length, 2, r.stderr);
});

test('--json prints the stable keys; the table names both lanes', async () => {
  const r = await runCli(
    [
      'compare',
      '--via',
      'relay',
      '--messages',
      '200',
      '--interval',
      '1ms',
      '--loss',
      '5%',
      '--seed',
      '11',
      '--json',
    ],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as Record<string, unknown> & {
    lanes: Record<string, Record<string, unknown> & { latency_ms: Record<string, number> }>;
  };
  assert.equal(json.via, 'relay');
  assert.equal(json.seed, 11);
  for (const lane of ['tcp', 'udp']) {
    const l = json.lanes[lane]!;
    for (const key of [
      'sent',
      'delivered',
      'late',
      'lost',
      'duplicated',
      'reordered',
      'corrupted',
      'goodput_bps',
    ])
      assert.equal(typeof l[key], 'number', `${lane}.${key}`);
    for (const key of ['p50', 'p99', 'max']) assert.equal(typeof l.latency_ms[key], 'number');
  }
  assert.equal(json.lanes.tcp!.retransmissions, null);
  assert.equal(json.lanes.tcp!.delivered, 200);

  const table = await runCli(
    ['compare', '--via', 'relay', '--messages', '100', '--interval', '1ms', '--seed', '11'],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^socklab compare via relay, seed 11: 100 messages of 200 bytes every 1 ms/);
  assert.match(table.stdout, /delivered\s+100\s+100/);
  assert.match(table.stdout, /TCP delivered 100 of 100/);
});

test('a sweep prints one row per value, and a failed lane makes exit 1 with both lanes shown', async () => {
  const sweep = await runCli(
    ['compare', '--messages', '200', '--interval', '1ms', '--loss', '0,10%', '--seed', '5'],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(sweep.code, 0, sweep.stderr);
  assert.match(sweep.stdout, /^0\s+200\/200/m);
  assert.match(sweep.stdout, /^10%\s+200\/200/m);
  const failed = await runCli(
    ['compare', '--messages', '200', '--interval', '1ms', '--reset-after', '2kb', '--seed', '5'],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(failed.code, 1);
  assert.match(failed.stdout, /status\s+failed\s+ok/);
  assert.match(failed.stdout, /delivered\s+\d+\s+200/);
  assert.match(failed.stdout, /TCP lane failed: /);
});

test('--deadline ends the run: what came is counted, both lanes say deadline, exit 1, in time', async () => {
  const started = Date.now();
  const r = await runCli(
    ['compare', '--messages', '2000', '--interval', '5ms', '--deadline', '1s', '--seed', '1', '--json'],
    {
      timeoutMs: 30_000,
    },
  );
  assert.equal(r.code, 1, r.stderr);
  const json = JSON.parse(r.stdout) as {
    lanes: Record<string, { status: string; sent: number; delivered: number }>;
  };
  for (const lane of ['tcp', 'udp']) {
    const l = json.lanes[lane]!;
    assert.equal(l.status, 'deadline');
    assert.ok(l.sent > 0 && l.sent < 2000, `${lane} sent ${l.sent}`);
    assert.ok(l.delivered <= l.sent);
  }
  assert.ok(Date.now() - started < 15_000, 'stopped near its deadline, not after the 10 s of sending');
});

test('request/response: an unanswered request is lost; answered ones carry a round trip', async () => {
  const r = await runCli(
    ['compare', '--via', 'relay', '--requests', '200', '--loss', '10%', '--seed', '4', '--json'],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as {
    lanes: Record<
      string,
      { delivered: number; lost: number; latency_kind: string; path: { dropped: number } }
    >;
  };
  const udp = json.lanes.udp!;
  const tcp = json.lanes.tcp!;
  assert.equal(udp.latency_kind, 'round-trip');
  assert.equal(tcp.delivered, 200);
  assert.equal(udp.delivered + udp.lost, 200);
  // 10% each way: a round trip is lost when its request or its answer is dropped (19%: 38 of 200, sd 5.5).
  assert.ok(udp.lost >= 11 && udp.lost <= 65, `UDP round trips lost ${udp.lost}`);
  assert.ok(udp.lost >= udp.path.dropped, 'at least every request the relay dropped on the way up');
  assert.ok(udp.lost > udp.path.dropped, 'and some whose answer was dropped on the way back');
});

test(
  'not root, --via auto: the relay, and a note of its own saying why not the link',
  { skip: process.getuid?.() !== 0 ? 'needs root to run a command as another user' : undefined },
  async () => {
    // Coverage files are root's: `env -u NODE_V8_COVERAGE` keeps the child from writing them.
    const r = await runProcess(
      'env',
      [
        '-u',
        'NODE_V8_COVERAGE',
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        BIN,
        'compare',
        '--messages',
        '20',
        '--interval',
        '1ms',
        '--seed',
        '3',
      ],
      { cwd: '/', timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^socklab compare via relay, seed 3/);
    assert.match(r.stdout, /\nnote: not via the link: [^\n]*root[^\n]*\nnote: via the relay, TCP's stream/);
  },
);

test('--drop 3,7 is one list of packets, not a sweep; --loss 1%,2% is a sweep', () => {
  const drop = parse(['--drop', '3,7', '--messages', '5']);
  assert.equal(drop.sweep, undefined);
  assert.deepEqual(
    drop.faults?.map((f) => f.type),
    ['drop'],
  );
  assert.equal(parse(['--loss', '1%,2%', '--messages', '5']).sweep?.points.length, 2);
});
