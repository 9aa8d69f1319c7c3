/**
 * listen -u and connect -u without the native addon: the UDP server and client tests run again
 * in a child with SOCKLAB_NATIVE=0, so the node:dgram fallback stays as good as the batched path.
 * (Where the addon is not built, the tests already ran on node:dgram: skipped.)
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nativeUdp } from '../../src/core/datagram.js';
import { listenUdp } from '../../src/server/udp-server.js';
import { openUdp } from '../../src/client/udp-client.js';
import { startProcess } from '../helpers/spawn.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

test('listen -u and connect -u use the native batched socket where it is built', async (t) => {
  const server = await listenUdp({ port: 0, behaviours: [] });
  t.after(() => server.close());
  const client = await openUdp(server.address());
  t.after(() => client.close());
  assert.equal(server.batched, nativeUdp);
  assert.equal(client.socket.batched, nativeUdp);
});

test(
  'the UDP server and client tests pass on node:dgram too (SOCKLAB_NATIVE=0)',
  { skip: nativeUdp ? false : 'the addon is not built: the UDP tests ran on node:dgram already' },
  async () => {
    const run = startProcess(
      process.execPath,
      ['--test', here('./udp.test.js'), here('../cli/connect.test.js')],
      // Without NODE_TEST_CONTEXT, which makes a nested `node --test` skip its files.
      { env: { ...process.env, SOCKLAB_NATIVE: '0', NODE_TEST_CONTEXT: undefined }, lifetimeMs: 120_000 },
    );
    const result = await run.exited(110_000);
    const summary = /# pass (\d+)\n# fail (\d+)/.exec(result.stdout);
    assert.ok(summary, `no test summary:\n${result.stdout.slice(-2000)}${result.stderr}`);
    assert.equal(summary[2], '0', result.stdout.slice(-4000));
    assert.ok(Number(summary[1]) >= 10, `only ${summary[1]} tests ran`);
    assert.equal(result.code, 0);
  },
);
