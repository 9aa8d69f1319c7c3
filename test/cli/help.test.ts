/** Every --help fits an 80-column terminal (and a 60-column one) without a word broken or lost. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { fitHelp, helpWidth } from '../../src/cli/help.js';
import { runCli } from '../helpers/cli.js';

const words = (text: string) => text.split(/\s+/).filter((w) => w !== '');

for (const name of Object.keys(COMMANDS)) {
  test(`socklab ${name} --help fits 80 and 60 columns, every word whole and in order`, async () => {
    const { help } = await COMMANDS[name]!.load();
    for (const width of [80, 60]) {
      const fitted = fitHelp(help, width);
      // Only a single word longer than the room (a JSON example) may go past the edge.
      const long = fitted.split('\n').filter((l) => l.length > width && words(l).length > 1);
      assert.deepEqual(long, [], `lines over ${width} columns`);
      assert.deepEqual(words(fitted), words(help));
    }
  });
}

test('the terminal decides the width (60 to 100); a pipe or a file gets 80', async () => {
  assert.equal(helpWidth({}), 80);
  assert.equal(helpWidth({ isTTY: true, columns: 120 }), 100);
  assert.equal(helpWidth({ isTTY: true, columns: 70 }), 70);
  assert.equal(helpWidth({ isTTY: true, columns: 20 }), 60);
  const result = await runCli(['--help']);
  assert.deepEqual(
    result.stdout.split('\n').filter((l) => l.length > 80),
    [],
  );
});
