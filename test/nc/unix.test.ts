/**
 * `socklab nc -U`: Unix stream and datagram sockets against real ncat 7.93 (`ncat -lU`, `ncat -U`,
 * `ncat -luU`, `ncat -uU`), socklab on one side and ncat on the other, data both ways; TLS over a
 * Unix socket (which ncat refuses); what -U cannot take. Sockets live in a temporary directory.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ncImpls, runNc, SOCKLAB_NC, startNc, type NcImpl } from '../helpers/nc.js';
import type { Spawned } from '../helpers/spawn.js';

const impls = await ncImpls();
const ncat = impls.find((i) => i.name === 'ncat');

async function socketPath(t: TestContext, name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'socklab-nc-unix-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

/** `impl ARGS --test`, once it listens. */
async function listenUnix(t: TestContext, impl: NcImpl, args: readonly string[]): Promise<Spawned> {
  const proc = startNc(impl, [...args, '--test']);
  t.after(() => proc.stop());
  await proc.waitFor('NCAT TEST: LISTEN', 'stderr', 10_000);
  return proc;
}

function client(t: TestContext, impl: NcImpl, args: readonly string[]): Spawned {
  const proc = startNc(impl, args);
  t.after(() => proc.stop());
  return proc;
}

/** The two pairings: socklab serving ncat, ncat serving socklab. */
function pairings(): { server: NcImpl; client: NcImpl }[] {
  return ncat
    ? [
        { server: SOCKLAB_NC, client: ncat },
        { server: ncat, client: SOCKLAB_NC },
      ]
    : [];
}

for (const { server: serverImpl, client: clientImpl } of pairings()) {
  const name = (what: string) => `${serverImpl.name} serves ${clientImpl.name}: ${what}`;

  test(
    name("-lU / -U: a Unix stream socket, both directions, the client's end ends the server"),
    async (t) => {
      const file = await socketPath(t, 'stream.sock');
      const server = await listenUnix(t, serverImpl, ['-lU', file]);
      server.write('from the server\n');
      const c = client(t, clientImpl, ['-U', file]);
      await c.waitFor('from the server\n');
      c.endInput('from the client\n');
      const s = await server.exited(10_000);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(s.stdout, 'from the client\n');
      if (serverImpl.name === 'socklab')
        assert.equal(existsSync(file), false, 'socklab removes its socket file');
      const r = await c.exited(10_000);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'from the server\n');
    },
  );

  test(name('-luU / -uU: Unix datagrams both directions, the client bound with -s'), async (t) => {
    const file = await socketPath(t, 'dgram.sock');
    const server = await listenUnix(t, serverImpl, ['-v', '-luU', file]);
    // ncat binds its client to a temporary file of its own; socklab to the path given with -s.
    const own = `${file}.client`;
    const c = client(t, clientImpl, ['-uU', ...(clientImpl.name === 'socklab' ? ['-s', own] : []), file]);
    c.write('datagram from the client\n');
    await server.waitFor('datagram from the client\n');
    if (serverImpl.name === 'socklab')
      assert.match(server.stderr(), /socklab nc: datagrams from unix:\/tmp\/ncat\.\w+\n/);
    else assert.match(server.stderr(), new RegExp(`Connection from ${own.replace(/[.]/g, '\\.')}`));
    server.write('datagram from the server\n');
    await c.waitFor('datagram from the server\n');
    c.endInput();
    const r = await c.exited(10_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'datagram from the server\n');
    if (clientImpl.name === 'socklab') assert.equal(existsSync(own), false, 'socklab removes its -s file');
  });
}

test('socklab nc -uU without -s: an abstract address of its own, which ncat -luU answers', async (t) => {
  if (!ncat) {
    t.skip('ncat not installed');
    return;
  }
  const file = await socketPath(t, 'dgram.sock');
  const server = await listenUnix(t, ncat, ['-luU', file]);
  const c = client(t, SOCKLAB_NC, ['-v', '-uU', file]);
  await c.waitFor(/sending to unix:\S+ from @\w+\n/, 'stderr');
  c.write('hello\n');
  await server.waitFor('hello\n');
  server.write('answered\n');
  await c.waitFor('answered\n');
  c.endInput();
  assert.equal((await c.exited(10_000)).code, 0);
});

test('socklab nc --ssl over -U: TLS on a Unix stream socket (ncat refuses it)', async (t) => {
  const file = await socketPath(t, 'tls.sock');
  const server = await listenUnix(t, SOCKLAB_NC, ['--ssl', '-v', '-lU', file]);
  const printed = /TLS certificate SHA-256 fingerprint: ([0-9A-F:]{95})\n/.exec(server.stderr())?.[1];
  assert.ok(printed, server.stderr());
  server.write('encrypted hello\n');
  const c = client(t, SOCKLAB_NC, ['--ssl', '-v', '-U', file]);
  await c.waitFor('encrypted hello\n');
  c.endInput('encrypted answer\n');
  const s = await server.exited(10_000);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, 'encrypted answer\n');
  const r = await c.exited(10_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`server certificate: CN=localhost, SHA-256 fingerprint ${printed}\n`));
  if (ncat) {
    const n = await runNc(ncat, ['--ssl', '-U', file], { input: '' });
    assert.equal(n.code, 2);
    assert.match(n.stderr, /SSL option not supported when using Unix domain sockets/);
  }
});

test('socklab nc -U: what a Unix socket has no use for is a usage error (exit 2, one line)', async () => {
  for (const [args, pattern] of [
    [['-U', '-p', '9', '/tmp/x.sock'], /-p cannot be used with -U: a Unix socket has no port/],
    [['-lU', '--allow', '127.0.0.1', '/tmp/x.sock'], /--allow cannot be used with -U/],
    [['-U', '-s', '/tmp/a.sock', '/tmp/x.sock'], /-s cannot be used with -U: only a datagram client/],
    [['-U'], /-U needs the path of the Unix socket/],
  ] as const) {
    const r = await runNc(SOCKLAB_NC, args, { input: '' });
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('socklab nc -U to a path where nobody listens: exit 1, one line', async (t) => {
  const file = await socketPath(t, 'nobody.sock');
  const r = await runNc(SOCKLAB_NC, ['-U', file], { input: 'x' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^socklab nc: cannot connect to unix:\S+nobody\.sock: .*\n$/);
});
