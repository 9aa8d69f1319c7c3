/**
 * The benchmark suite's relay bench (benchmarks/relay.js, what `npm run bench`'s relay figure runs)
 * on a machine where a peer stops answering: the variant it belongs to fails within seconds, with a
 * one-line reason naming it, the other variants are measured, and relay.js ends and writes its
 * results, instead of waiting out a fixed deadline (it used to wait 300 s per run).
 *
 * The fault is put into relay.js's own peers, which are its children: a module loaded into every
 * node process it starts (NODE_OPTIONS=--import) acts only in the one role it names (the processes
 * started with `--role NAME`), after that role has sent a given number of datagrams.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../helpers/cli.js';
import { startProcess, type ProcessResult } from '../helpers/spawn.js';

const RELAY_BENCH = path.join(REPO_ROOT, 'benchmarks', 'relay.js');
/** Per run: a few hundred ms on loopback; its budget (lib/relay-plan.js): 1 s at 20,000/s x 5 + 5 s = 10 s. */
const DATAGRAMS = 20_000;
/** relay.js must be done by then; the silent variant alone costs its 3 s without an echo. */
const LIMIT_MS = 12_000;

interface VariantSummary {
  median: number | null;
  runs: unknown[];
  error?: string;
}
interface RelayJson {
  udp?: { error?: string; summary: Record<string, VariantSummary> };
}

/**
 * `fault` is the body of a function run in the role's process on each datagram it sends, before
 * sending it (`n`: how many it has sent so far); returning false drops the datagram.
 */
function faultModule(role: string, fault: string): string {
  return `import dgram from 'node:dgram';
const at = process.argv.indexOf('--role');
if (at !== -1 && process.argv[at + 1] === ${JSON.stringify(role)}) {
  const send = dgram.Socket.prototype.send;
  let n = 0;
  const fault = (n) => { ${fault} };
  dgram.Socket.prototype.send = function (...args) {
    if (fault(n++) === false) return;
    return send.apply(this, args);
  };
}
`;
}

/** `node benchmarks/relay.js --only udp --rounds 1` with the fault; killed (SIGINT, its children with it) at LIMIT_MS. */
async function relayBenchUdp(
  t: TestContext,
  role: string,
  fault: string,
): Promise<{ result: ProcessResult; ms: number; json: RelayJson | undefined }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'socklab-harness-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const preload = path.join(dir, 'fault.mjs');
  await writeFile(preload, faultModule(role, fault));
  const jsonFile = path.join(dir, 'relay.json');
  const env = {
    ...process.env,
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${pathToFileURL(preload).href}`]
      .filter(Boolean)
      .join(' '),
  };
  const started = performance.now();
  const bench = startProcess(
    process.execPath,
    [RELAY_BENCH, '--only', 'udp', '--rounds', '1', '--datagrams', String(DATAGRAMS), '--json', jsonFile],
    { cwd: REPO_ROOT, env, lifetimeMs: LIMIT_MS + 10_000 },
  );
  // SIGINT first: relay.js then stops its own children (each leads its own process group) by PID.
  const stopper = setTimeout(() => bench.child.kill('SIGINT'), LIMIT_MS);
  let result: ProcessResult;
  try {
    result = await bench.exited(LIMIT_MS + 5_000);
  } finally {
    clearTimeout(stopper);
  }
  const ms = performance.now() - started;
  let json: RelayJson | undefined;
  try {
    json = JSON.parse(await readFile(jsonFile, 'utf8')) as RelayJson;
  } catch {
    json = undefined;
  }
  assert.ok(
    ms < LIMIT_MS,
    `relay.js did not end within ${LIMIT_MS} ms (stopped: ${result.signal ?? result.code}); ` +
      `its stderr: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`,
  );
  return { result, ms, json };
}

const measured = (v: VariantSummary | undefined, name: string) => {
  assert.ok(v, `${name} is in the results`);
  assert.equal(v.error, undefined, `${name} was measured`);
  assert.equal(v.runs.length, 1);
  assert.ok((v.median ?? 0) > 0, `${name} has a rate`);
};

test('relay bench: a relay that stops answering fails its variant in seconds, the others are measured', async (t) => {
  // The minimal dgram relay forwards its first 400 datagrams (both ways), then nothing.
  const { result, json } = await relayBenchUdp(t, 'udp-min-relay', 'return n < 400;');
  assert.equal(result.code, 1, 'relay.js exits 1 when a variant failed');
  assert.ok(json?.udp, `relay.js wrote its UDP results; stderr: ${result.stderr}`);
  const summary = json.udp.summary;
  measured(summary.direct, 'direct');
  measured(summary['socklab relay'], 'socklab relay');
  assert.match(
    summary['minimal Node dgram relay']?.error ?? '',
    new RegExp(`^round 1: no echo for 3 s \\(\\d+ of ${DATAGRAMS} echoes back, \\d+ sent\\)$`),
  );
  assert.match(
    result.stderr,
    /^udp minimal Node dgram relay: FAILED, round 1: no echo for 3 s \(/m,
    'one line on stderr names the variant and the reason',
  );
});

test('relay bench: when the echo server dies mid-run, the run fails in seconds and says so', async (t) => {
  // The echo server ends after 1.5 runs' worth of echoes (SIGTERM to itself, as a deadline would).
  const { result, json } = await relayBenchUdp(
    t,
    'udp-echo',
    `if (n === ${DATAGRAMS * 1.5}) process.kill(process.pid, 'SIGTERM'); return true;`,
  );
  assert.equal(result.code, 1);
  assert.ok(json?.udp, `relay.js wrote its UDP results; stderr: ${result.stderr}`);
  const summary = json.udp.summary;
  measured(summary.direct, 'direct');
  const others = Object.entries(summary).filter(([name]) => name !== 'direct');
  assert.equal(others.length, 3);
  for (const [name, v] of others)
    assert.match(v.error ?? '', /echo server \(exit SIGTERM\)/, `${name} fails naming the echo server`);
  // The run it died in failed (no echo for 3 s, or an ICMP error), and its message says the echo
  // server had exited; the variants after it were not run at all.
  const [first, ...rest] = others.map(([, v]) => v.error ?? '');
  assert.match(first ?? '', /^round 1: .+; exited meanwhile: echo server \(exit SIGTERM\)$/);
  for (const error of rest) assert.match(error, /^round 1: not run: exited: echo server \(exit SIGTERM\)$/);
});
