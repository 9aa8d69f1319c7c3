#!/usr/bin/env node
/* global process, console, Buffer, performance, setInterval, clearInterval, URL */
/**
 * benchmarks/relay.js — `npm run bench:relay`: socklab relay against socat, side by side, in one run.
 *
 *   TCP throughput    sender → relay → sink, 512 MiB per run: socat TCP-LISTEN:…,fork TCP:… vs
 *                     `socklab relay` with no faults, and with a 50 ms delay (toxiproxy's "latency").
 *   UDP datagram rate a client keeps 32 datagrams of 64 bytes in flight through the relay to an
 *                     echo server: socat UDP4-LISTEN:…,fork UDP4:… vs `socklab relay -u`, and, for
 *                     reference, the least a relay written with node:dgram can do.
 *   1 GiB SHA-256     1 GiB of pseudo-random bytes through `socklab relay --delay 5ms --jitter 2ms
 *                     --slice 16kb --slice-variation 8kb --slice-delay 1us`: the sink's SHA-256 must
 *                     equal the sender's.
 *
 * Every process is a child of this one, on loopback, started with a deadline and stopped by its PID.
 * The deadlines follow from what is asked (rounds, MiB and datagrams per run: lib/relay-plan.js), and
 * a run that stops making progress (no echo, no write completing for a few seconds) fails at once: it
 * fails its variant, which is left out of the later rounds and reported with the reason, while the
 * others go on. Exit status 1 if anything failed (the JSON is written anyway).
 * Variants alternate round by round so a busy machine slows them all alike; the report gives the
 * median and the best run of each, and the ratios of medians. Run it pinned to one core
 * (`taskset -c 0`, as the npm script does): sender, relay and receiver then share that core, and a
 * relay's cost per byte shows directly in the throughput.
 *
 * Options: --rounds N (default 5) · --tcp-mib N (512) · --datagrams N (200000) · --gib-mib N (1024)
 *          · --only tcp|delay|udp|gib[,...] (delay: the relay with and without the 50 ms delay only)
 *          · --json FILE (also write the results as JSON)
 * Roles (used by the bench itself): --role tcp-sink|tcp-send|udp-echo|udp-client|udp-min-relay …
 *          [--budget-ms N --stall-ms N] (a client's limits)
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllNow, start, stopAll, waitForPort } from './lib/proc.js';
import { BACKSTOP_MS, relayBenchMs, seconds, sectionPlan, STALL_MS, WARMUP_MIB } from './lib/relay-plan.js';
import { oneLine } from './lib/rounds.js';
import { best, median } from './lib/stats.js';

const SELF = fileURLToPath(import.meta.url);
const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const SOCAT = '/usr/bin/socat';
/** socat cannot tell which port 0 gave it: its listeners take fixed ports above 61000. */
const SOCAT_TCP_PORT = 61_731;
const SOCAT_UDP_PORT = 61_732;

// ---------------------------------------------------------------------------------------------
// Roles: small peers, each a separate process.

/**
 * A server role ends with the bench: if relay.js is gone (killed before it could stop its children),
 * the server is reparented and exits instead of living on until its deadline.
 */
function exitWithParent() {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500).unref();
}

/** A TCP server that counts (and optionally hashes) what it receives and answers "bytes ms sha". */
async function tcpSink(hash) {
  exitWithParent();
  const server = net.createServer((socket) => {
    const h = hash ? createHash('sha256') : undefined;
    let bytes = 0;
    let first;
    let last;
    socket.on('data', (chunk) => {
      first ??= performance.now();
      last = performance.now();
      bytes += chunk.length;
      h?.update(chunk);
    });
    socket.on('end', () => socket.end(`${bytes} ${(last ?? 0) - (first ?? 0)} ${h ? h.digest('hex') : '-'}`));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
}

/** Pseudo-random bytes, the same on every run: a 1 MiB block, rotated by a different offset per chunk. */
function dataSource(chunkSize) {
  const block = Buffer.alloc(1 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < block.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  let n = 0;
  return () => {
    const offset = (n++ * 7919) % (block.length - chunkSize);
    return block.subarray(offset, offset + chunkSize);
  };
}

/**
 * Send `mib` MiB to port, half-close, read the sink's answer; print JSON. Fails (throws) when no
 * write completes and nothing comes back for stallMs, or when the whole takes longer than budgetMs.
 */
async function tcpSend(port, mib, hash, { budgetMs, stallMs }) {
  const size = mib * 1024 * 1024;
  const t0 = performance.now();
  let lastProgress = t0;
  let phase = 'connecting';
  let written = 0;
  let watchdog;
  let fail;
  const stalled = new Promise((_resolve, reject) => {
    fail = reject;
    watchdog = setInterval(() => {
      const now = performance.now();
      const where = `while ${phase}, ${(written / 2 ** 20).toFixed(1)} of ${mib} MiB written`;
      if (now - lastProgress >= stallMs) reject(new Error(`no progress for ${seconds(stallMs)} (${where})`));
      else if (now - t0 >= budgetMs)
        reject(new Error(`not done within its budget of ${seconds(budgetMs)} (${where})`));
    }, 100);
  });
  const transfer = async () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', fail);
    await once(socket, 'connect');
    lastProgress = performance.now();
    phase = 'sending';
    const answer = [];
    socket.on('data', (d) => {
      lastProgress = performance.now();
      answer.push(d);
    });
    const next = dataSource(65536);
    const h = hash ? createHash('sha256') : undefined;
    const start = performance.now();
    const done = (length) => () => {
      written += length;
      lastProgress = performance.now();
    };
    for (let sent = 0; sent < size;) {
      const chunk = next().subarray(0, Math.min(65536, size - sent));
      h?.update(chunk);
      sent += chunk.length;
      if (!socket.write(chunk, done(chunk.length))) await once(socket, 'drain');
    }
    phase = "waiting for the sink's answer";
    socket.end();
    await once(socket, 'end');
    const totalMs = performance.now() - start;
    const [bytes, steadyMs, sha] = Buffer.concat(answer).toString().split(' ');
    socket.destroy();
    return {
      bytes: Number(bytes),
      expected: size,
      totalMs,
      steadyMs: Number(steadyMs),
      sent: h ? h.digest('hex') : undefined,
      received: sha === '-' ? undefined : sha,
    };
  };
  try {
    console.log(JSON.stringify(await Promise.race([transfer(), stalled])));
  } finally {
    clearInterval(watchdog);
  }
}

function udpSocket() {
  return dgram.createSocket({
    type: 'udp4',
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
    lookup: (address, _family, callback) => callback(null, address, 4),
  });
}

async function udpEcho() {
  exitWithParent();
  const socket = udpSocket();
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.bind(0, '127.0.0.1', () => console.log(`port ${socket.address().port}`));
}

/**
 * The least a UDP relay in Node can do: a flow (connected socket) per client, no pipeline, no
 * counters. For reference: the gap between it and socat is the cost of Node's dgram, per datagram.
 */
async function udpMinimalRelay(targetPort) {
  exitWithParent();
  const listen = udpSocket();
  const flows = new Map();
  listen.on('message', (msg, rinfo) => {
    const key = `${rinfo.address} ${rinfo.port}`;
    let flow = flows.get(key);
    if (!flow) {
      const socket = udpSocket();
      flow = { socket, ready: false, pending: [] };
      flows.set(key, flow);
      socket.on('message', (reply) => listen.send(reply, rinfo.port, rinfo.address));
      socket.connect(targetPort, '127.0.0.1', () => {
        flow.ready = true;
        for (const p of flow.pending) socket.send(p);
      });
    }
    if (flow.ready) flow.socket.send(msg);
    else flow.pending.push(msg);
  });
  listen.bind(0, '127.0.0.1', () => console.log(`port ${listen.address().port}`));
}

/**
 * Keep `window` datagrams in flight to port (resending a window after 100 ms of silence); print
 * JSON. Fails (throws) when no echo comes back for stallMs, or when the run takes longer than
 * budgetMs: a peer that stopped answering fails its run in seconds.
 */
async function udpClient(port, count, window, { budgetMs, stallMs }) {
  const socket = udpSocket();
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const payload = Buffer.alloc(64);
  let sent = 0;
  let received = 0;
  const send = () => {
    payload.writeUInt32BE(sent++ >>> 0, 0);
    socket.send(payload);
  };
  const start = performance.now();
  let lastEcho = start; // silence for stallMs: the run has failed
  let lastMs = start; // silence for 100 ms (no echo, no resend): resend a window
  let timer;
  try {
    await new Promise((resolve, reject) => {
      socket.on('error', reject);
      socket.on('message', () => {
        received += 1;
        lastEcho = lastMs = performance.now();
        if (sent < count) send();
        else if (received >= count) resolve();
      });
      timer = setInterval(() => {
        const now = performance.now();
        const progress = `${received} of ${count} echoes back, ${sent} sent`;
        if (now - lastEcho >= stallMs) {
          reject(new Error(`no echo for ${seconds(stallMs)} (${progress})`));
          return;
        }
        if (now - start >= budgetMs) {
          reject(new Error(`not done within its budget of ${seconds(budgetMs)} (${progress})`));
          return;
        }
        if (now - lastMs < 100) return;
        if (sent >= count) {
          resolve();
          return;
        }
        for (let i = 0; i < window && sent < count; i++) send();
        lastMs = now;
      }, 50);
      for (let i = 0; i < window; i++) send();
    });
  } finally {
    clearInterval(timer);
    socket.close();
  }
  const ms = performance.now() - start;
  if (received === 0) throw new Error(`no echo at all (${sent} sent)`);
  console.log(JSON.stringify({ sent, received, ms, perSec: (received / ms) * 1000 }));
}

// ---------------------------------------------------------------------------------------------
// Processes: each started with a deadline from lib/relay-plan.js, stopped by PID (lib/proc.js).

/**
 * One run: `--role ARGS` as a child that stops itself after budgetMs (killed BACKSTOP_MS later if it
 * does not); resolves with its JSON. Rejects with one line: the reason the role gave ("no echo for
 * 3 s ..."), or how it ended.
 */
async function runRole(args, budgetMs) {
  const limits = ['--budget-ms', String(budgetMs), '--stall-ms', String(STALL_MS)];
  const role = start(process.execPath, [SELF, '--role', ...args, ...limits], {
    deadlineMs: budgetMs + BACKSTOP_MS,
  });
  const result = await role.exited;
  if (result.code === 0) {
    try {
      return JSON.parse(result.stdout.trim().split('\n').at(-1));
    } catch {
      throw new Error(`${args[0]} printed no result${role.lastWords()}`);
    }
  }
  const reason = /^error: (.*)$/m.exec(result.stderr)?.[1];
  if (reason) throw new Error(reason);
  if (result.timedOut) throw new Error(`${args[0]} killed: still running ${seconds(budgetMs + BACKSTOP_MS)}`);
  throw new Error(`${args[0]} failed (${result.code ?? result.signal})${role.lastWords()}`);
}

/** Start one of our roles that prints "port N" (sink, echo server, minimal relay). */
async function startRoleServer(args, deadlineMs) {
  const proc = start(process.execPath, [SELF, '--role', ...args], { deadlineMs });
  try {
    return { proc, port: Number((await proc.waitFor(/port (\d+)/, { stream: 'stdout' }))[1]) };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

async function startRelay(args, deadlineMs) {
  const proc = start(process.execPath, [BIN, 'relay', ...args], { deadlineMs });
  try {
    const m = await proc.waitFor(/listening on \S+:(\d+)\n/, { stream: 'stderr' });
    return { proc, port: Number(m[1]) };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** socat prints nothing when ready: wait until its fixed port listens (TCP) or is bound (UDP). */
async function startSocat(args, port, protocol, deadlineMs) {
  const proc = start(SOCAT, args, { deadlineMs });
  try {
    await waitForPort(port, protocol, { proc, timeoutMs: 10_000 });
    return { proc, port };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** Which of `names` (long-lived processes of a section) have exited, and why: '' if none. */
function gone(servers, names) {
  return names
    .filter((name) => servers[name]?.proc.closed)
    .map((name) => {
      const { proc } = servers[name];
      return `${name} (${proc.timedOut ? 'reached its deadline' : `exit ${proc.exitStatus ?? '?'}`})`;
    })
    .join(', ');
}

/**
 * Each variant in turn, round by round (round 0: an unmeasured warm-up, if asked). A run that
 * throws fails its variant: the reason goes into failed[name] (one line, with the round and any of
 * the processes it needs that has exited) and to stderr at once, and the variant is left out of the
 * later rounds; the others go on. A variant whose processes (needs[name]: keys of servers) have
 * exited fails without a run.
 */
async function alternateRuns(section, needs, { rounds, warmup = false, failed, servers }, runOne) {
  const names = Object.keys(needs);
  const runs = Object.fromEntries(names.map((k) => [k, []]));
  for (let round = warmup ? 0 : 1; round <= rounds; round++) {
    for (const name of names) {
      if (failed[name]) continue;
      const when = round === 0 ? 'warm-up' : `round ${round}`;
      let dead = gone(servers, needs[name]);
      try {
        if (dead) throw new Error(`not run: exited: ${dead}`);
        const r = await runOne(name, round);
        if (round > 0) runs[name].push(r);
      } catch (err) {
        dead ||= gone(servers, needs[name]);
        failed[name] =
          `${when}: ${oneLine(err)}${dead && !oneLine(err).includes(dead) ? `; exited meanwhile: ${dead}` : ''}`;
        process.stderr.write(`${section} ${name}: FAILED, ${failed[name]}\n`);
      }
    }
    if (round > 0) process.stderr.write(`${section} round ${round}/${rounds}\n`);
  }
  return runs;
}

/**
 * Start a variant's own process; if it cannot start, that variant fails (failed[name]) and the
 * others go on. Resolves with { proc, port } or undefined.
 */
async function startVariant(section, name, failed, starter) {
  try {
    return await starter();
  } catch (err) {
    failed[name] = `did not start: ${oneLine(err)}`;
    process.stderr.write(`${section} ${name}: FAILED, ${failed[name]}\n`);
    return undefined;
  }
}

const stopAllOf = (servers) => Promise.all(Object.values(servers).map((s) => s?.proc.stop()));

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
/** a / b of two summaries' `key`, null when either variant failed or is missing. */
const ratioOf = (a, b, key = 'median') => (a && b && !a.error && !b.error ? a[key] / b[key] : null);

function planLine(section, plan, what) {
  process.stderr.write(
    `${section}: ${what}; a run may take ${seconds(plan.runMs)} (and fails after ${seconds(STALL_MS)} ` +
      `without progress), the section ${seconds(plan.serverMs)}\n`,
  );
}

async function benchTcp(options, results, delayOnly = false) {
  const { rounds, tcpMib: mib } = options;
  const plan = sectionPlan(delayOnly ? 'delay' : 'tcp', options);
  planLine('tcp', plan, `${rounds} rounds x ${plan.variants} variants, ${mib} MiB per run`);
  const failed = {};
  const servers = {};
  const target = (port) => `tcp://127.0.0.1:${port}`;
  try {
    servers.sink = await startRoleServer(['tcp-sink'], plan.serverMs);
    const sinkPort = servers.sink.port;
    if (!delayOnly)
      servers.socat = await startVariant('tcp', 'socat', failed, () =>
        startSocat(
          [`TCP-LISTEN:${SOCAT_TCP_PORT},fork,reuseaddr,bind=127.0.0.1`, `TCP:127.0.0.1:${sinkPort}`],
          SOCAT_TCP_PORT,
          'tcp',
          plan.serverMs,
        ),
      );
    servers['socklab relay'] = await startVariant('tcp', 'socklab relay', failed, () =>
      startRelay([target(0), target(sinkPort)], plan.serverMs),
    );
    servers['socklab relay --delay 50ms'] = await startVariant(
      'tcp',
      'socklab relay --delay 50ms',
      failed,
      () => startRelay([target(0), target(sinkPort), '--delay', '50ms'], plan.serverMs),
    );
    const ports = {
      ...(delayOnly ? {} : { direct: sinkPort, socat: SOCAT_TCP_PORT }),
      'socklab relay': servers['socklab relay']?.port,
      'socklab relay --delay 50ms': servers['socklab relay --delay 50ms']?.port,
    };
    const needs = {
      ...(delayOnly ? {} : { direct: ['sink'], socat: ['sink', 'socat'] }),
      'socklab relay': ['sink', 'socklab relay'],
      'socklab relay --delay 50ms': ['sink', 'socklab relay --delay 50ms'],
    };
    // One unmeasured transfer each (round 0): the first one through a fresh process is always slower.
    const runs = await alternateRuns(
      'tcp',
      needs,
      { rounds, warmup: true, failed, servers },
      async (name, round) => {
        const [size, budgetMs] = round === 0 ? [Math.min(mib, WARMUP_MIB), plan.warmupMs] : [mib, plan.runMs];
        const r = await runRole(['tcp-send', String(ports[name]), String(size)], budgetMs);
        if (r.bytes !== r.expected) throw new Error(`${r.bytes} bytes arrived of ${r.expected}`);
        return { total: r.bytes / r.totalMs / 1000, steady: r.bytes / r.steadyMs / 1000 };
      },
    );
    results.tcp = tcpSummary(mib, rounds, runs, failed);
  } finally {
    await stopAllOf(servers);
  }
}

function tcpSummary(mib, rounds, runs, failed) {
  console.log(
    `\nTCP throughput, ${mib} MiB per run, ${rounds} rounds (MB/s; steady = first to last byte at the sink)`,
  );
  console.log(
    `${'variant'.padEnd(28)} ${'median'.padStart(8)} ${'best'.padStart(8)} ${'steady med'.padStart(11)} ${'steady best'.padStart(12)}`,
  );
  const summary = {};
  for (const [name, xs] of Object.entries(runs)) {
    const total = xs.map((x) => x.total);
    const steady = xs.map((x) => x.steady);
    summary[name] = {
      median: median(total),
      best: best(total),
      steadyMedian: median(steady),
      steadyBest: best(steady),
      runs: xs,
      ...(failed[name] ? { error: failed[name] } : {}),
    };
    console.log(
      failed[name]
        ? `${name.padEnd(28)} error: ${failed[name]}`
        : `${name.padEnd(28)} ${fmt(median(total)).padStart(8)} ${fmt(best(total)).padStart(8)} ${fmt(median(steady)).padStart(11)} ${fmt(best(steady)).padStart(12)}`,
    );
  }
  const plainS = summary['socklab relay'];
  const delayedS = summary['socklab relay --delay 50ms'];
  const out = {
    mib,
    rounds,
    summary,
    delayRatio: ratioOf(delayedS, plainS, 'steadyMedian'),
    delayRatioBest: ratioOf(delayedS, plainS, 'steadyBest'),
    delayRatioTotal: ratioOf(delayedS, plainS),
  };
  if (summary.socat) {
    out.vsSocat = ratioOf(plainS, summary.socat);
    out.vsSocatBest = ratioOf(plainS, summary.socat, 'best');
    console.log(
      `socklab relay / socat: ${fmt(out.vsSocat, 2)} (medians), ${fmt(out.vsSocatBest, 2)} (bests)   [must be >= 0.9]`,
    );
  }
  console.log(
    `--delay 50ms / no fault, first to last byte: ${fmt(out.delayRatio, 2)} (medians), ${fmt(out.delayRatioBest, 2)} (bests); ` +
      `end to end, with the 50 ms: ${fmt(out.delayRatioTotal, 2)}   [must be >= 0.8]`,
  );
  return out;
}

async function benchUdp(options, results) {
  const { rounds, datagrams } = options;
  const plan = sectionPlan('udp', options);
  planLine('udp', plan, `${rounds} rounds x ${plan.variants} variants, ${datagrams} datagrams per run`);
  const failed = {};
  const servers = {};
  const target = (port) => `udp://127.0.0.1:${port}`;
  try {
    servers['echo server'] = await startRoleServer(['udp-echo'], plan.serverMs);
    const echoPort = servers['echo server'].port;
    servers.socat = await startVariant('udp', 'socat', failed, () =>
      startSocat(
        [
          '-T',
          '10',
          `UDP4-LISTEN:${SOCAT_UDP_PORT},fork,reuseaddr,bind=127.0.0.1`,
          `UDP4:127.0.0.1:${echoPort}`,
        ],
        SOCAT_UDP_PORT,
        'udp',
        plan.serverMs,
      ),
    );
    servers['socklab relay'] = await startVariant('udp', 'socklab relay', failed, () =>
      startRelay([target(0), target(echoPort)], plan.serverMs),
    );
    servers['minimal Node dgram relay'] = await startVariant('udp', 'minimal Node dgram relay', failed, () =>
      startRoleServer(['udp-min-relay', String(echoPort)], plan.serverMs),
    );
    const ports = {
      direct: echoPort,
      socat: SOCAT_UDP_PORT,
      'socklab relay': servers['socklab relay']?.port,
      'minimal Node dgram relay': servers['minimal Node dgram relay']?.port,
    };
    const needs = {
      direct: ['echo server'],
      socat: ['echo server', 'socat'],
      'socklab relay': ['echo server', 'socklab relay'],
      'minimal Node dgram relay': ['echo server', 'minimal Node dgram relay'],
    };
    const runs = await alternateRuns('udp', needs, { rounds, failed, servers }, (name) =>
      runRole(['udp-client', String(ports[name]), String(datagrams), '32'], plan.runMs),
    );
    results.udp = udpSummary(datagrams, rounds, runs, failed);
  } finally {
    await stopAllOf(servers);
  }
}

function udpSummary(datagrams, rounds, runs, failed) {
  console.log(
    `\nUDP datagram rate, 64-byte datagrams, 32 in flight, ${datagrams} per run, ${rounds} rounds (echoes/s)`,
  );
  console.log(`${'variant'.padEnd(28)} ${'median'.padStart(8)} ${'best'.padStart(8)} ${'lost'.padStart(6)}`);
  const summary = {};
  for (const [name, xs] of Object.entries(runs)) {
    const rates = xs.map((x) => x.perSec);
    const lost = xs.reduce((s, x) => s + (x.sent - x.received), 0);
    summary[name] = {
      median: median(rates),
      best: best(rates),
      lost,
      runs: xs,
      ...(failed[name] ? { error: failed[name] } : {}),
    };
    console.log(
      failed[name]
        ? `${name.padEnd(28)} error: ${failed[name]}`
        : `${name.padEnd(28)} ${fmt(median(rates)).padStart(8)} ${fmt(best(rates)).padStart(8)} ${String(lost).padStart(6)}`,
    );
  }
  const vsSocat = ratioOf(summary['socklab relay'], summary.socat);
  const vsSocatBest = ratioOf(summary['socklab relay'], summary.socat, 'best');
  console.log(
    `socklab relay / socat: ${fmt(vsSocat, 2)} (medians), ${fmt(vsSocatBest, 2)} (bests)   [must be >= 0.9]`,
  );
  const minimalVsSocat = ratioOf(summary['minimal Node dgram relay'], summary.socat);
  console.log(
    `minimal Node dgram relay / socat: ${fmt(minimalVsSocat, 2)} (medians): the floor of Node's dgram`,
  );
  return { datagrams, rounds, summary, vsSocat, vsSocatBest, minimalVsSocat };
}

async function benchGib(options, results) {
  const mib = options.gibMib;
  const plan = sectionPlan('gib', options);
  planLine('gib', plan, `${mib} MiB through socklab relay with faults`);
  const servers = {};
  const faults = [
    '--delay',
    '5ms',
    '--jitter',
    '2ms',
    '--slice',
    '16kb',
    '--slice-variation',
    '8kb',
    '--slice-delay',
    '1us',
  ];
  let r;
  let end;
  try {
    servers.sink = await startRoleServer(['tcp-sink', '--hash'], plan.serverMs);
    servers.relay = await startRelay(
      [`tcp://127.0.0.1:0`, `tcp://127.0.0.1:${servers.sink.port}`, ...faults, '--seed', '1'],
      plan.serverMs,
    );
    try {
      r = await runRole(['tcp-send', String(servers.relay.port), String(mib), '--hash'], plan.runMs);
    } catch (err) {
      const dead = gone(servers, ['sink', 'relay']);
      throw new Error(`${oneLine(err)}${dead ? `; exited meanwhile: ${dead}` : ''}`);
    }
    end = await servers.relay.proc.stop('SIGINT');
  } finally {
    await stopAllOf(servers);
  }
  const same = r.sent === r.received && r.bytes === r.expected;
  console.log(`\n${mib} MiB through socklab relay ${faults.join(' ')}`);
  console.log(
    `  sent     ${r.sent}\n  received ${r.received}  (${r.bytes} bytes, ${fmt(r.totalMs / 1000, 1)} s, ${fmt(r.bytes / r.totalMs / 1000)} MB/s)`,
  );
  console.log(`  SHA-256 ${same ? 'identical' : 'DIFFERENT'}`);
  const counters = end.stderr.split('\n').filter((l) => /^\s+(up|down):/.test(l));
  for (const line of counters) console.log(`  relay counters ${line.trim()}`);
  results.gib = { mib, ...r, same, counters };
  if (!same) process.exitCode = 1;
}

// ---------------------------------------------------------------------------------------------

const { values, positionals } = parseArgs({
  options: {
    role: { type: 'string' },
    hash: { type: 'boolean' },
    'budget-ms': { type: 'string' },
    'stall-ms': { type: 'string' },
    rounds: { type: 'string', default: '5' },
    'tcp-mib': { type: 'string', default: '512' },
    datagrams: { type: 'string', default: '200000' },
    'gib-mib': { type: 'string', default: '1024' },
    only: { type: 'string' },
    json: { type: 'string' },
  },
  allowPositionals: true,
  strict: true,
});

if (values.role !== undefined) {
  const [a, b, c] = positionals;
  const limits = {
    budgetMs: Number(values['budget-ms'] ?? Infinity),
    stallMs: Number(values['stall-ms'] ?? STALL_MS),
  };
  const failRole = (err) => {
    // One line for runRole(), which reports it as the run's failure.
    process.stderr.write(`error: ${oneLine(err)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', failRole);
  try {
    if (values.role === 'tcp-sink') await tcpSink(values.hash === true);
    else if (values.role === 'tcp-send') await tcpSend(Number(a), Number(b), values.hash === true, limits);
    else if (values.role === 'udp-echo') await udpEcho();
    else if (values.role === 'udp-client') await udpClient(Number(a), Number(b), Number(c), limits);
    else if (values.role === 'udp-min-relay') await udpMinimalRelay(Number(a));
    else throw new Error(`unknown role ${values.role}`);
  } catch (err) {
    failRole(err);
  }
} else {
  // Stopped (Ctrl-C, or the relay figure's deadline): take every child along, by PID.
  process.on('exit', killAllNow);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ])
    process.on(sig, () => {
      killAllNow();
      process.exit(code);
    });
  const options = {
    rounds: Number(values.rounds),
    tcpMib: Number(values['tcp-mib']),
    datagrams: Number(values.datagrams),
    gibMib: Number(values['gib-mib']),
  };
  const results = { date: new Date().toISOString(), node: process.version };
  const only = values.only?.split(',');
  const has = (part) => !only || only.includes(part);
  const sections = [
    ...(has('tcp') ? [['tcp', () => benchTcp(options, results)]] : []),
    ...(!has('tcp') && only.includes('delay') ? [['delay', () => benchTcp(options, results, true)]] : []),
    ...(has('udp') ? [['udp', () => benchUdp(options, results)]] : []),
    ...(has('gib') ? [['gib', () => benchGib(options, results)]] : []),
  ];
  process.stderr.write(
    `relay bench: ${sections.map(([name]) => name).join(', ')}; at most ` +
      `${seconds(
        relayBenchMs(
          sections.map(([name]) => name),
          options,
        ),
      )} in all (lib/relay-plan.js)\n`,
  );
  try {
    for (const [name, bench] of sections) {
      try {
        await bench();
      } catch (err) {
        // The section could not run (its sink or echo server did not start, ...): the next one can.
        const key = name === 'delay' ? 'tcp' : name;
        results[key] = { ...results[key], error: oneLine(err) };
        process.stderr.write(`${name}: FAILED, ${oneLine(err)}\n`);
      }
    }
  } finally {
    await stopAll();
  }
  const failures = Object.values(results).filter(
    (r) => r?.error || Object.values(r?.summary ?? {}).some((v) => v.error),
  );
  if (failures.length) process.exitCode = 1;
  if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
}
