import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { runCli } from '../helpers/cli.js';

const names = Object.keys(COMMANDS);

test('--version prints the package version', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `socklab ${pkg.version}\n`);
});

test('no command: help on stderr, exit 2; --help: exit 0 and every command listed', async () => {
  const none = await runCli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: socklab COMMAND/);
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  for (const name of names) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
});

test('an unknown command is a usage error', async () => {
  const r = await runCli(['frobnicate']);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `socklab: unknown command 'frobnicate' (commands: ${names.join(', ')}) (see 'socklab --help')\n`,
  );
});

test('every command has --help with examples', async () => {
  for (const name of names) {
    const r = await runCli([name, '--help']);
    assert.equal(r.code, 0, name);
    assert.match(r.stdout, /Examples:/, name);
  }
});

test('after --, --help and -h are operands: connect sends them as messages', async (t) => {
  const received: Buffer[] = [];
  const server = net.createServer((s) =>
    s.on('data', (d: Buffer) => received.push(d)).on('end', () => s.end()),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const result = await runCli(['connect', `127.0.0.1:${port}`, '--eol', 'lf', '--', '--help', '-h']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, '');
  assert.equal(Buffer.concat(received).toString(), '--help\n-h\n');
});
