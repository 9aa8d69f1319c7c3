/**
 * The control API is a server socklab runs for others: what a web page, a slow client or a hostile
 * name can do to it. Real HTTP requests with node:http to 127.0.0.1, each bounded by a timeout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { serveApi, type ServeApiOptions } from '../../src/relay/api.js';
import { describeEnd, describeStart, watch } from '../../src/cli/commands/relay.js';
import { readConfig } from '../../src/relay/config.js';
import { RelayRegistry } from '../../src/relay/registry.js';
import { createRelay } from '../../src/relay/relay.js';
import { apiRequest } from '../helpers/api-client.js';
import { runCli, startCli } from '../helpers/cli.js';
import { echo, tcpServer } from '../helpers/relay-peers.js';

type T = { after: (fn: () => Promise<void> | void) => void };

async function setup(t: T, options: Partial<ServeApiOptions> = {}) {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const registry = new RelayRegistry();
  t.after(() => registry.closeAll());
  const relay = await registry.create({
    name: 'web',
    listen: 'tcp://127.0.0.1:0',
    upstream: `tcp://127.0.0.1:${server.port}`,
    seed: 1,
  });
  const api = await serveApi({ registry, listen: 'tcp://127.0.0.1:0', version: '9.9.9', ...options });
  t.after(() => api.close());
  return { server, registry, relay, api, port: api.address().port };
}

test('fault types and parameters named like Object.prototype keys are 400s (and usage errors), not TypeErrors', async (t) => {
  const { port, relay, server } = await setup(t);
  for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const r = await apiRequest(port, { method: 'POST', path: '/relays/web/faults', body: { type } });
    assert.equal(r.status, 400, `type ${type}: ${r.text}`);
    assert.match(String(r.body?.error), /^fault: unknown fault type '.*' \(types: delay, /, type);
  }
  const added = await apiRequest(port, {
    method: 'POST',
    path: '/relays/web/faults',
    body: { type: 'delay', params: { delayMs: 1 } },
  });
  assert.equal(added.status, 201, added.text);
  for (const [path, body] of [
    ['/relays/web/faults', '{"type":"rate","params":{"constructor":1}}'],
    ['/relays/web/faults', '{"type":"rate","params":{"__proto__":{"rateBytesPerSec":1}}}'],
    ['/relays/web/faults/delay', '{"params":{"toString":1}}'],
  ] as const) {
    const r = await apiRequest(port, {
      method: 'POST',
      path,
      body,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 400, `${path} ${body}: ${r.text}`);
    assert.match(String(r.body?.error), /unknown parameter '(constructor|__proto__|toString)'/);
  }
  const relayWithIt = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: {
      name: 'proto',
      listen: '127.0.0.1:0',
      upstream: `127.0.0.1:${server.port}`,
      faults: [{ type: 'constructor' }],
    },
  });
  assert.equal(relayWithIt.status, 400, relayWithIt.text);
  // The library and config files: a usage error, not a TypeError.
  await assert.rejects(
    createRelay({ listen: '127.0.0.1:0', upstream: '127.0.0.1:9', faults: [{ type: 'constructor' }] }),
    { code: 'SOCKLAB_ERR_USAGE', message: /unknown fault type 'constructor'/ },
  );
  assert.throws(
    () =>
      readConfig(
        { relays: [{ listen: '0', upstream: '127.0.0.1:1', faults: [{ type: 'toString' }] }] },
        'x.yaml',
      ),
    {
      code: 'SOCKLAB_ERR_USAGE',
      message: /x\.yaml: relays\[0\] \(relay1\): fault: unknown fault type 'toString'/,
    },
  );
  assert.equal(relay.faults().length, 1, 'the relay still has its one fault');
});

test('a bad percent-escape in the path is a 400, not an internal error', async (t) => {
  const { port } = await setup(t);
  for (const path of ['/relays/%E0%A4%A', '/relays/web/faults/%ff', '/relays/%']) {
    const r = await apiRequest(port, { path });
    assert.equal(r.status, 400, `${path}: ${r.text}`);
    assert.match(String(r.body?.error), /^bad percent-escape in the path/);
  }
  assert.equal((await apiRequest(port, { path: '/relays/w%65b' })).status, 200, 'good escapes still work');
});

test('socklab relay --config with a fault type named constructor: exit 2, one line, no stack', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'socklab-api-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'relays.yaml');
  await writeFile(
    file,
    'relays: [{ listen: "127.0.0.1:0", upstream: "127.0.0.1:9", faults: [{ type: constructor }] }]\n',
  );
  const result = await runCli(['relay', '--config', file], { timeoutMs: 10_000 });
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /^socklab relay: .*relays\.yaml: relays\[0\] \(relay1\): fault: unknown fault type 'constructor'/,
  );
  assert.doesNotMatch(result.stderr, /internal error|TypeError| {4}at /);
});

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
/** Retitles the window, clears the screen, and forges a log line of its own. */
const HOSTILE_NAME = 'web\x1b]0;owned\x07\x1b[2J\nrelay web: closed connection #1 from 10.0.0.1:1';

test("relay and fault names from the API follow the config file's rule: 400 for escapes and newlines", async (t) => {
  const { port, registry, server } = await setup(t);
  for (const name of [HOSTILE_NAME, 'a b', 'x'.repeat(65), 'caf\u00e9', 'a/b', '\u009b2J']) {
    const r = await apiRequest(port, {
      method: 'POST',
      path: '/relays',
      body: { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}` },
    });
    assert.equal(r.status, 400, `${JSON.stringify(name)}: ${r.text}`);
    assert.match(
      String(r.body?.error),
      /^relay name '.*' is not a name: expected 1-64 letters, digits, '_', '-' or '\.'$/,
    );
    assert.doesNotMatch(String(r.body?.error), CONTROLS, 'the reason is printable');
  }
  assert.deepEqual(
    registry.list().map((r) => r.name),
    ['web'],
  );
  const fault = await apiRequest(port, {
    method: 'POST',
    path: '/relays/web/faults',
    body: { name: HOSTILE_NAME, type: 'delay', params: { delayMs: 1 } },
  });
  assert.equal(fault.status, 400, fault.text);
  assert.doesNotMatch(String(fault.body?.error), CONTROLS);
  const good = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: { name: 'api-1.b_c', listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}` },
  });
  assert.equal(good.status, 201, good.text);
  // The registry holds to the rule whoever asks (config files, --name, the library).
  await assert.rejects(
    registry.create({ name: HOSTILE_NAME, listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}` }),
    {
      code: 'SOCKLAB_ERR_USAGE',
      message: /^relay name 'web\\u001b\]0;owned\\u0007\\u001b\[2J\\u000arelay web: .*' is not a name/,
    },
  );
});

test('socklab relay --api: a hostile name never reaches the terminal raw', async (t) => {
  const upstream = await tcpServer(echo);
  t.after(() => upstream.close());
  const cli = await startCli(['relay', '--api', '127.0.0.1:0', '-v'], { listening: 0 });
  t.after(() => void cli.stop('SIGKILL'));
  await cli.waitFor(/api on http:\/\/127\.0\.0\.1:\d+\n/, 'stderr');
  const port = Number(/api on http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.stderr())![1]);
  const r = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: { name: HOSTILE_NAME, listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}` },
  });
  assert.equal(r.status, 400, r.text);
  const ok = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: { name: 'fine', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}` },
  });
  assert.equal(ok.status, 201, ok.text);
  await cli.waitFor(/relay fine tcp:/, 'stderr');
  const result = await cli.stop('SIGINT');
  assert.doesNotMatch(result.stderr, CONTROLS, JSON.stringify(result.stderr));
  assert.doesNotMatch(result.stderr, /owned|10\.0\.0\.1/);
  // --name is held to the same rule: exit 2 and a printable reason.
  const named = await runCli(['relay', '127.0.0.1:0', `127.0.0.1:${upstream.port}`, '--name', HOSTILE_NAME], {
    timeoutMs: 10_000,
  });
  assert.equal(named.code, 2, named.stderr);
  assert.match(named.stderr, /relay name 'web\\u001b\]0;owned/);
  assert.doesNotMatch(named.stderr, CONTROLS);
});

test('names are printed sanitised even when they slipped by (a relay made with createRelay())', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await createRelay({
    name: HOSTILE_NAME,
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${server.port}`,
  });
  t.after(() => relay.close());
  const lines: string[] = [];
  const io = { stderr: { write: (text: string) => lines.push(text) } };
  watch(relay, io as never, true);
  relay.emit('refused', '127.0.0.1:1', 'too many connections');
  for (const text of [describeStart(relay), describeEnd(relay), ...lines]) {
    assert.doesNotMatch(text.replace(/\n(?= {2}(up|down):)|\n$/g, ''), /[\n\r]/, JSON.stringify(text));
    assert.doesNotMatch(text, CONTROLS, JSON.stringify(text));
    assert.match(text, /relay web·\]0;owned··\[2J·relay web: closed/);
  }
});
