#!/usr/bin/env node
/* global process, console, URL */
/**
 * benchmarks/run.js — `npm run bench`: socklab side by side with iperf3, sockperf, socat, hyperfine and
 * the plainest Node programs (benchmarks/peers/), one figure per file in benchmarks/figures/.
 *
 *   npm run bench                      every figure, 5 rounds
 *   npm run bench -- --quick           every figure, 3 rounds, shorter runs (under 2 minutes)
 *   npm run bench -- --only tcp-receive,startup
 *   npm run bench -- --rounds 7
 *   npm run bench -- --no-write        print the table only (BENCHMARKS.md and results.json untouched)
 *   npm run bench -- --list            the figures' names
 *
 * Progress goes to stderr, the table to stdout; BENCHMARKS.md (repository root) gets the machine,
 * the table, and per figure the commands, the raw numbers of every round and the method;
 * benchmarks/results.json everything measured. Exit status: 0 the suite ran (a goal missed is a result,
 * not a failure), 1 something broke (a figure could not be measured, or the runner itself).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ensurePeers, machineInfo } from './lib/machine.js';
import { killAllNow, stopAll } from './lib/proc.js';
import { markdownReport, tableRows, TABLE_HEADERS } from './lib/report.js';
import { shown } from './lib/roles.js';
import { oneLine } from './lib/rounds.js';
import { textTable } from './lib/table.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const FIGURES_DIR = fileURLToPath(new URL('./figures/', import.meta.url));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(
    'Usage: npm run bench [-- --quick] [--only NAME[,NAME]] [--rounds N] [--no-write] [--list]\n' +
      'Runs the figures in benchmarks/figures/ (see BENCHMARKS.md for what each measures).',
  );
  process.exit(0);
}

const log = (line) => process.stderr.write(`${line}\n`);

async function loadFigures() {
  const figures = [];
  for (const file of readdirSync(FIGURES_DIR).filter((f) => f.endsWith('.js'))) {
    const { default: figure } = await import(pathToFileURL(path.join(FIGURES_DIR, file)).href);
    figures.push(figure);
  }
  return figures.sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || a.name.localeCompare(b.name));
}

async function main() {
  const figures = await loadFigures();
  if (values.list) {
    for (const f of figures) console.log(`${f.name.padEnd(18)} ${f.title}`);
    return 0;
  }
  let selected = figures;
  if (values.only) {
    const names = values.only.split(',').map((s) => s.trim());
    const unknown = names.filter((n) => !figures.some((f) => f.name === n));
    if (unknown.length) {
      log(`unknown figure(s): ${unknown.join(', ')} (known: ${figures.map((f) => f.name).join(', ')})`);
      return 2;
    }
    selected = figures.filter((f) => names.includes(f.name));
  }
  const quick = values.quick;
  const rounds = values.rounds ? Number(values.rounds) : quick ? 3 : 5;
  if (!Number.isInteger(rounds) || rounds < 1) {
    log(`--rounds: '${values.rounds}' is not a whole number >= 1`);
    return 2;
  }

  const started = Date.now();
  const missing = ensurePeers(log);
  if (missing.length) log(`still missing: ${missing.join(', ')} (their figures will show an error)`);
  const machine = machineInfo();
  log(
    `machine: ${machine.nproc} CPUs, ${machine.cpu}, ${machine.kernel}, node ${machine.node}; ` +
      `${quick ? 'quick, ' : ''}${rounds} rounds`,
  );
  const tmpdir = path.join(existsShm() ? '/dev/shm' : os.tmpdir(), `socklab-bench-${process.pid}`);
  mkdirSync(tmpdir, { recursive: true });
  const ctx = {
    quick,
    rounds,
    roundsGiven: values.rounds !== undefined,
    seconds: quick ? 1 : 3,
    log,
    tmpdir,
    root: ROOT,
  };

  const results = [];
  try {
    for (const figure of selected) {
      const t0 = Date.now();
      log(`\n== ${figure.name}: ${figure.title}`);
      let result;
      try {
        result = await figure.run(ctx);
      } catch (err) {
        log(`[${figure.name}] error: ${oneLine(err)}`);
        result = { error: oneLine(err), rows: [] };
      } finally {
        await stopAll();
      }
      const seconds = (Date.now() - t0) / 1000;
      log(`[${figure.name}] done in ${seconds.toFixed(1)} s`);
      results.push({ figure, result, seconds });
    }
  } finally {
    rmSync(tmpdir, { recursive: true, force: true });
  }

  const rows = tableRows(results);
  console.log(`\n${textTable(TABLE_HEADERS, rows)}`);
  const totalSeconds = (Date.now() - started) / 1000;
  log(`\n${selected.length} figure(s) in ${totalSeconds.toFixed(0)} s`);

  const report = {
    date: new Date(started).toISOString(),
    quick,
    rounds,
    seconds: ctx.seconds,
    totalSeconds,
    machine,
    figures: results.map(({ figure, result, seconds }) => ({
      name: figure.name,
      title: figure.title,
      seconds,
      error: result.error,
      rows: result.rows,
      notes: result.notes,
      method: typeof figure.method === 'function' ? figure.method(ctx) : figure.method,
      variants: result.variants,
      extra: result.extra,
    })),
  };
  if (!values['no-write']) {
    const json = JSON.stringify(report, (key, value) => (key === 'commands' ? value.map(shown) : value), 2);
    writeFileSync(path.join(ROOT, 'benchmarks/results.json'), await prettierJson(json));
    writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), markdownReport(report));
    log('wrote BENCHMARKS.md and benchmarks/results.json');
  }
  const broken = results.some(({ result }) => result.error || result.rows.some((r) => r.error));
  return broken ? 1 : 0;
}

/** JSON as the repository's Prettier writes it (so `npm run lint` passes), if Prettier is there. */
async function prettierJson(text) {
  try {
    const prettier = await import('prettier');
    const options = await prettier.resolveConfig(path.join(ROOT, 'benchmarks/results.json'));
    return await prettier.format(text, { ...options, parser: 'json' });
  } catch {
    return `${text}\n`;
  }
}

function existsShm() {
  try {
    return readdirSync('/dev/shm') !== undefined;
  } catch {
    return false;
  }
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    log(`\n${sig}: stopping the benchmark's processes`);
    killAllNow();
    process.exit(130);
  });

try {
  process.exitCode = await main();
} catch (err) {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
}
