/** The control API (toxiproxy's shape) and config files. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ApiServer } from '../../src/relay/api.js';
import { loadConfig, readConfig } from '../../src/relay/config.js';
import { RelayRegistry } from '../../src/relay/registry.js';
import { apiSetup } from '../helpers/api-client.js';
import { startCli } from '../helpers/cli.js';
import { collect, connect, echo, tcpServer, udpClient, udpServer, within } from '../helpers/relay-peers.js';

const setup = apiSetup;

async function call(api: ApiServer, method: string, path: string, body?: unknown) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    ...(body !== undefined
      ? {
          body: typeof body === 'string' ? body : JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        }
      : {}),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
    headers: res.headers,
  };
}

async function roundTrip(port: number, message: string): Promise<{ text: string; ms: number }> {
  const client = await connect(port);
  const start = performance.now();
  const result = collect(client);
  client.end(message);
  const { data } = await within(result, 5000, 'the echo');
  return { text: data.toString(), ms: performance.now() - start };
}

test('list relays, add, change and remove a fault, read the counters, reset', async (t) => {
  const { relay, api } = await setup(t);
  assert.deepEqual((await call(api, 'GET', '/version')).body, { version: '9.9.9' });
  const list = await call(api, 'GET', '/relays');
  assert.equal(list.status, 200);
  assert.deepEqual(Object.keys(list.body!), ['web']);
  assert.equal((list.body!.web as { listen: string }).listen, `tcp://127.0.0.1:${relay.address().port}`);

  const added = await call(api, 'POST', '/relays/web/faults', {
    type: 'delay',
    direction: 'down',
    params: { delayMs: '80ms' },
  });
  assert.equal(added.status, 201);
  assert.deepEqual(added.body, {
    name: 'delay_down',
    type: 'delay',
    direction: 'down',
    probability: 1,
    params: { delayMs: 80, jitterMs: 0, distribution: 'uniform' },
  });
  assert.ok((await roundTrip(relay.address().port, 'slow')).ms >= 80);

  const changed = await call(api, 'POST', '/relays/web/faults/delay_down', { params: { delayMs: 1 } });
  assert.equal(changed.status, 200);
  assert.equal((changed.body!.params as { delayMs: number }).delayMs, 1);
  const patched = await call(api, 'PATCH', '/relays/web/faults/delay_down', { probability: '50%' });
  assert.equal(patched.body!.probability, 0.5);
  assert.equal((await call(api, 'GET', '/relays/web/faults')).body!.length, 1);

  const counters = await call(api, 'GET', '/relays/web/counters');
  assert.equal(counters.status, 200);
  const c = counters.body as {
    up: Record<string, { packets: number; bytes: number }>;
    down: Record<string, unknown>;
    stats: unknown;
  };
  assert.deepEqual(c.up.forwarded, { packets: 1, bytes: 4 });
  assert.deepEqual(Object.keys(c.up), [
    'forwarded',
    'dropped',
    'duplicated',
    'reordered',
    'corrupted',
    'delayed',
    'overflowed',
    'truncated',
  ]);

  assert.equal((await call(api, 'DELETE', '/relays/web/faults/delay_down')).status, 204);
  assert.deepEqual(relay.faults(), []);
  await call(api, 'POST', '/relays/web/faults', { type: 'slow-close', params: { delayMs: 5 } });
  assert.equal((await call(api, 'POST', '/reset')).status, 204);
  assert.deepEqual(relay.faults(), []);
  assert.equal(relay.counters().up.forwarded.bytes, 0);
});

test('bad requests get a 4xx and a one-line reason, and the relay keeps forwarding', async (t) => {
  const { relay, api } = await setup(t);
  const cases: [string, string, unknown, number, RegExp][] = [
    ['POST', '/relays/web/faults', '{"type": "delay",', 400, /^bad JSON: /],
    ['POST', '/relays/web/faults', { type: 'loss', params: { lossRate: '10%' } }, 400, /loss is a UDP fault/],
    ['POST', '/relays/web/faults', { type: 'delay', params: { delayMs: '-5ms' } }, 400, /'-5ms' is negative/],
    ['POST', '/relays/web/faults', { type: 'wormhole' }, 400, /unknown fault type 'wormhole'/],
    ['POST', '/relays/web/faults', [1, 2], 400, /^a fault must be a JSON object$/],
    ['GET', '/relays/nope', undefined, 404, /^no relay named 'nope' \(relays: web\)$/],
    [
      'GET',
      '/relays/web/faults/nope',
      undefined,
      404,
      /^relay 'web' has no fault named 'nope' \(faults: none\)$/,
    ],
    ['DELETE', '/relays/web/faults/nope', undefined, 404, /no fault named 'nope'/],
    ['PUT', '/relays/web/faults', {}, 405, /^PUT is not allowed here \(GET, POST\)$/],
    ['GET', '/toxics', undefined, 404, /^no such endpoint: GET \/toxics/],
    ['POST', '/relays/web/faults', 'x'.repeat(70_000), 413, /larger than 65536 bytes/],
    [
      'POST',
      '/relays',
      { name: 'web', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' },
      409,
      /already exists/,
    ],
    ['POST', '/relays', { name: 'x', listen: '127.0.0.1:0' }, 400, /needs listen and upstream/],
  ];
  for (const [method, path, body, status, error] of cases) {
    const r = await call(api, method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.match(String(r.body!.error), error, `${method} ${path}`);
    assert.ok(!String(r.body!.error).includes('\n'), 'one line');
  }
  await call(api, 'POST', '/relays/web/faults', { type: 'delay', params: { delayMs: '1ms' } });
  const conflict = await call(api, 'POST', '/relays/web/faults', {
    type: 'delay',
    params: { delayMs: '1ms' },
  });
  assert.equal(conflict.status, 409);
  const bad = await call(api, 'POST', '/relays/web/faults/delay', { type: 'rate' });
  assert.equal(bad.status, 400);
  assert.match(String(bad.body!.error), /cannot change type/);
  assert.equal((await call(api, 'PUT', '/relays/web/faults')).headers.get('allow'), 'GET, POST');
  assert.equal((await roundTrip(relay.address().port, 'still forwarding')).text, 'still forwarding');
});

test('relays created and deleted through the API', async (t) => {
  const { api, registry } = await setup(t);
  const backend = await udpServer((d) => Buffer.from(`echo ${d.toString()}`));
  t.after(() => backend.close());
  const created = await call(api, 'POST', '/relays', {
    name: 'dns',
    listen: 'udp://127.0.0.1:0',
    upstream: `127.0.0.1:${backend.port}`,
    faults: [{ type: 'duplicate', params: { duplicateRate: 1 } }],
    seed: 3,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const port = Number(/:(\d+)$/.exec(String(created.body!.listen))![1]);
  const client = await udpClient(port);
  t.after(() => client.close());
  client.send('hi');
  await client.waitFor(4); // duplicated up, and each reply duplicated down
  assert.deepEqual(client.received.map(String), ['echo hi', 'echo hi', 'echo hi', 'echo hi']);
  assert.equal((await call(api, 'DELETE', '/relays/dns')).status, 204);
  assert.equal(registry.get('dns'), undefined);
  assert.equal((await call(api, 'GET', '/relays/dns')).status, 404);
});

test('config files: several relays from YAML; mistakes name the file and the field', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'socklab-relay-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tcp = await tcpServer(echo);
  t.after(() => tcp.close());
  const udp = await udpServer();
  t.after(() => udp.close());
  const file = join(dir, 'relays.yaml');
  await writeFile(
    file,
    `seed: 7
relays:
  - name: web
    listen: 127.0.0.1:0
    upstream: 127.0.0.1:${tcp.port}
    maxBufferedBytes: 16mb
    faults:
      - { type: delay, direction: down, params: { delayMs: 30ms } }
  - name: dns
    listen: udp://127.0.0.1:0
    upstream: 127.0.0.1:${udp.port}
    flowIdleMs: 5s
    faults:
      - type: loss
        direction: up
        params: { lossRate: 10% }
`,
  );
  const config = await loadConfig(file);
  assert.equal(config.relays.length, 2);
  assert.deepEqual(
    config.relays.map((r) => [r.name, r.seed, r.maxBufferedBytes, r.flowIdleMs]),
    [
      ['web', 7, 16 << 20, undefined],
      ['dns', 7, undefined, 5000],
    ],
  );
  const registry = new RelayRegistry();
  t.after(() => registry.closeAll());
  for (const r of config.relays) await registry.create(r);
  const web = registry.get('web')!;
  const { text, ms } = await roundTrip(web.address().port, 'via yaml');
  assert.equal(text, 'via yaml');
  assert.ok(ms >= 30);
  const dns = registry.get('dns')!;
  const client = await udpClient(dns.address().port);
  t.after(() => client.close());
  for (let i = 0; i < 20; i++) client.send(`q${i}`);
  await client.waitFor(10);

  const bad: [string, string, RegExp][] = [
    ['bad.yaml', 'relays: [ {', /^.*bad\.yaml: not valid YAML: /],
    ['bad.json', '{"relays": [}', /^.*bad\.json: not valid JSON: /],
    ['empty.yaml', 'seed: 1', /empty\.yaml: relays: expected a list of one relay or more$/],
    [
      'field.yaml',
      'relays: [{ listen: "0", upstream: "127.0.0.1:1", colour: red }]',
      /field\.yaml: relays\[0\]\.colour: unknown field/,
    ],
    [
      'noup.yaml',
      'relays: [{ name: a, listen: "0" }]',
      /noup\.yaml: relays\[0\] \(a\): needs listen and upstream$/,
    ],
    [
      'loss.yaml',
      'relays: [{ name: a, listen: "0", upstream: "127.0.0.1:1", faults: [{ type: loss, params: { lossRate: 10% } }] }]',
      /loss\.yaml: relays\[0\] \(a\): fault 'loss': loss is a UDP fault/,
    ],
    [
      'twice.yaml',
      'relays: [{ name: a, listen: "0", upstream: "127.0.0.1:1" }, { name: a, listen: "0", upstream: "127.0.0.1:1" }]',
      /'a' is already the name/,
    ],
  ];
  for (const [name, content, message] of bad) {
    await writeFile(join(dir, name), content);
    await assert.rejects(loadConfig(join(dir, name)), { code: 'SOCKLAB_ERR_USAGE', message }, name);
  }
  await assert.rejects(loadConfig(join(dir, 'missing.yaml')), {
    code: 'SOCKLAB_ERR_FILE',
    message: /cannot read .*missing\.yaml: no such file or directory \(ENOENT\)/,
  });
  // toxiproxy's config: a list of relays.
  assert.equal(readConfig([{ name: 'x', listen: '0', upstream: '127.0.0.1:1' }], 'list').relays.length, 1);
});

test('socklab relay --config FILE --api ADDRESS: relays from the file, driven through the API', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'socklab-relay-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tcp = await tcpServer(echo);
  t.after(() => tcp.close());
  const file = join(dir, 'relays.json');
  await writeFile(
    file,
    JSON.stringify({
      relays: [
        { name: 'one', listen: '127.0.0.1:0', upstream: `127.0.0.1:${tcp.port}` },
        { name: 'two', listen: '127.0.0.1:0', upstream: `127.0.0.1:${tcp.port}` },
      ],
    }),
  );
  const cli = await startCli(['relay', '--config', file, '--api', '127.0.0.1:0'], { listening: 2 });
  t.after(() => void cli.stop('SIGKILL'));
  await cli.waitFor(/api on http:\/\/127\.0\.0\.1:\d+\n/, 'stderr');
  const url = /api on (\S+)/.exec(cli.stderr())![1]!;
  const api = { url } as ApiServer;
  const list = await call(api, 'GET', '/relays');
  assert.deepEqual(Object.keys(list.body!).sort(), ['one', 'two']);
  const added = await call(api, 'POST', '/relays/two/faults', {
    type: 'limit-data',
    direction: 'down',
    params: { limitBytes: 3 },
  });
  assert.equal(added.status, 201);
  assert.equal((await roundTrip(cli.ports[0]!, 'abcdef')).text, 'abcdef');
  assert.equal((await roundTrip(cli.ports[1]!, 'abcdef')).text, 'abc');
  const result = await cli.stop('SIGINT');
  assert.equal(result.code, 130);
  assert.match(result.stderr, /relay one: 1 connections/);
  assert.match(result.stderr, /relay two: 1 connections.*\n.*\n {2}down: forwarded 1 \(3 bytes\)/);
});
