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
import { readConfig } from '../../src/relay/config.js';
import { RelayRegistry } from '../../src/relay/registry.js';
import { createRelay } from '../../src/relay/relay.js';
import { apiRequest } from '../helpers/api-client.js';
import { runCli } from '../helpers/cli.js';
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
