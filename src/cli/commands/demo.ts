/**
 * `socklab demo`: the seeds' conversations run on loopback, in this process, with socklab's own
 * servers and clients, narrated for a learner, ending with what TCP promises and UDP does not,
 * measured in this run. The scenes live in src/demo/; this file parses, runs them in order and
 * prints either the narration or the facts as JSON.
 */
import { drained } from '../../core/backpressure.js';
import { silentNarrator, textNarrator, wantsColor } from '../../demo/narrator.js';
import { runDemo } from '../../demo/run.js';
import { STEP_LIMIT_MS, within } from '../../demo/stage.js';
import { summaryScene } from '../../demo/summary.js';
import { compareScene, runDemoComparison } from '../../demo/comparison.js';
import { parseCommandLine, usageError } from '../args.js';
import { helpWidth } from '../help.js';
import type { Io } from '../io.js';

export const help = `Usage: socklab demo [--json]

Run the tutorials' conversations over TCP and UDP on 127.0.0.1, inside this one
process, with socklab's own servers and clients, and explain what happened:
  1. a print server (seed 000): "Hello, TCP Server!", then "Hello, UDP Server!"
  2. request and reply (seeds 001, 002): "Hello from server!", and over UDP
  3. greeting, names, exit (seed 003): "Welcome!", "Hello, NAME!", three TCP
     clients at once; then Michael, Tracy and Sarah over UDP
  4. what TCP promises and UDP does not, measured in this run: message
     boundaries, delivery (20,000 datagrams into a 64 KiB buffer, then the same
     bytes over TCP), a closed port
  5. a short 'socklab compare': 200 messages over TCP and UDP at once through
     the relay with 5% loss and jitter, a verdict per message
Ports come from the OS (port 0); nothing is left running; it takes about a
second. Colour only on a terminal, and never with NO_COLOR set.

Options:
      --json      print the measured facts as one JSON object instead of the
                  narration
  -h, --help      this help

Examples:
  socklab demo                      the narrated tour
  socklab demo --json               the numbers, for a script or a handout
  NO_COLOR=1 socklab demo | less    read it a page at a time
  socklab demo --json | jq .promises.delivery.udp
                                    how many datagrams were lost this time

Exit status: 0 done · 1 a step failed (the message says which) · 2 bad usage ·
130 Ctrl-C.
`;

const OPTIONS = {
  json: { type: 'boolean' },
} as const;

export interface DemoOptions {
  /** Print the facts as JSON instead of narrating. */
  readonly json: boolean;
}

export function parse(argv: readonly string[]): DemoOptions {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (positionals.length > 0) throw usageError(`takes no arguments (got '${positionals[0]}')`);
  return { json: values.json ?? false };
}

/**
 * `env` is the one thing read from the process, and only for NO_COLOR; a test passes its own.
 * Everything else comes through `io`.
 */
export async function run(
  options: DemoOptions,
  io: Io,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const narrator = options.json
    ? silentNarrator
    : textNarrator(io.stdout, { color: wantsColor(io.stdout, env), width: helpWidth(io.stdout) - 2 });
  const facts = await runDemo({ narrator, signal: io.signal });
  const comparison = await runDemoComparison(io.signal);
  if (options.json) io.stdout.write(`${JSON.stringify({ ...facts, comparison }, null, 2)}\n`);
  else {
    summaryScene(narrator, facts, () => compareScene(narrator, comparison));
  }
  // A few kilobytes in all; if a slow reader has not taken them yet, wait (bounded) before exit.
  if (io.stdout.writableNeedDrain) {
    await within(drained(io.stdout), STEP_LIMIT_MS, 'the output draining', io.signal).catch(() => undefined);
  }
  return 0;
}
