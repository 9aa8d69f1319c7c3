/**
 * startup: how long `socklab --version` takes to start and exit, against `node -e 0` (the least a
 * Node program costs), measured by hyperfine.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { run, shellQuote } from '../lib/proc.js';
import { BIN, NODE } from '../lib/roles.js';
import { alternate, standardRow } from '../lib/rounds.js';

/** hyperfine one command; its mean in ms. */
async function hyperfine(ctx, command, runs) {
  const json = path.join(ctx.tmpdir, 'hyperfine.json');
  const r = await run(
    'hyperfine',
    ['-N', '--warmup', '3', '--runs', String(runs), '--export-json', json, command],
    { deadlineMs: 120_000 },
  );
  const result = JSON.parse(readFileSync(json, 'utf8')).results[0];
  return {
    value: result.mean * 1000,
    stddevMs: result.stddev * 1000,
    medianMs: result.median * 1000,
    minMs: result.min * 1000,
    commands: [r.commandLine],
  };
}

export default {
  name: 'startup',
  order: 80,
  title:
    'Start-up time: socklab --version and socklab nc --version against node -e 0 (hyperfine, not pinned)',
  method: (ctx) =>
    `\`hyperfine -N --warmup 3 --runs ${ctx.quick ? 5 : 30} --export-json FILE CMD\`, one hyperfine per ` +
    `command and round, the two commands alternating round by round; figure = hyperfine's mean. ` +
    `\`node -e 0\` is the least any Node program costs, so the ratio is what socklab adds to starting ` +
    `Node (loading its modules, parsing arguments). Lower is better: the goal is <= 1.5x.`,
  async run(ctx) {
    const runs = ctx.quick ? 5 : 30;
    const v = await alternate(
      ctx,
      this.name,
      [
        {
          key: 'socklab',
          label: 'socklab --version',
          run: () => hyperfine(ctx, `${shellQuote(NODE)} ${shellQuote(BIN)} --version`, runs),
        },
        {
          // ncat-style harnesses give a server ~0.4 s to start: nc's imports stay lazy.
          key: 'nc',
          label: 'socklab nc --version',
          run: () => hyperfine(ctx, `${shellQuote(NODE)} ${shellQuote(BIN)} nc --version`, runs),
        },
        { key: 'plain', label: 'node -e 0', run: () => hyperfine(ctx, `${shellQuote(NODE)} -e 0`, runs) },
      ],
      { unit: 'ms' },
    );
    return {
      variants: v,
      rows: [
        standardRow(v, {
          label: 'startup vs node -e 0',
          compare: 'socklab/plain',
          goal: { op: '<=', ratio: 1.5, text: '<= 1.5x node -e 0' },
          unit: 'ms',
        }),
        standardRow(v, {
          label: 'nc start-up vs node -e 0',
          compare: 'socklab/plain',
          socklab: 'nc',
          goal: { op: '<=', ratio: 1.5, text: '<= 1.5x node -e 0' },
          unit: 'ms',
        }),
      ],
    };
  },
};
