import assert from 'node:assert/strict';
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
