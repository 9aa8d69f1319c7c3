#!/usr/bin/env node
/* global process, console, Buffer, performance, setTimeout, setInterval, clearInterval, URL */
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
 * Variants alternate round by round so a busy machine slows them all alike; the report gives the
 * median and the best run of each, and the ratios of medians. Run it pinned to one core
 * (`taskset -c 0`, as the npm script does): sender, relay and receiver then share that core, and a
 * relay's cost per byte shows directly in the throughput.
 *
 * Options: --rounds N (default 5) · --tcp-mib N (512) · --datagrams N (200000) · --gib-mib N (1024)
 *          · --only tcp|delay|udp|gib[,...] (delay: the relay with and without the 50 ms delay only)
 *          · --json FILE (also write the results as JSON)
 * Roles (used by the bench itself): --role tcp-sink|tcp-send|udp-echo|udp-client …
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllNow, start, stopAll } from './lib/proc.js';
import { best, median } from './lib/stats.js';

const SELF = fileURLToPath(import.meta.url);
const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const SOCAT = '/usr/bin/socat';
/** socat cannot tell which port 0 gave it: its listeners take fixed ports above 61000. */
const SOCAT_TCP_PORT = 61_731;
const SOCAT_UDP_PORT = 61_732;

// ---------------------------------------------------------------------------------------------
// Roles: small peers, each a separate process.

/** A TCP server that counts (and optionally hashes) what it receives and answers "bytes ms sha". */
async function tcpSink(hash) {
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

/** Send `mib` MiB to port, half-close, read the sink's answer; print JSON. */
async function tcpSend(port, mib, hash) {
  const size = mib * 1024 * 1024;
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const answer = [];
  socket.on('data', (d) => answer.push(d));
  const next = dataSource(65536);
  const h = hash ? createHash('sha256') : undefined;
  const start = performance.now();
  for (let sent = 0; sent < size;) {
    const chunk = next().subarray(0, Math.min(65536, size - sent));
    h?.update(chunk);
    sent += chunk.length;
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  socket.end();
  await once(socket, 'end');
  const totalMs = performance.now() - start;
  const [bytes, steadyMs, sha] = Buffer.concat(answer).toString().split(' ');
  console.log(
    JSON.stringify({
      bytes: Number(bytes),
      expected: size,
      totalMs,
      steadyMs: Number(steadyMs),
      sent: h ? h.digest('hex') : undefined,
      received: sha === '-' ? undefined : sha,
    }),
  );
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
  const socket = udpSocket();
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.bind(0, '127.0.0.1', () => console.log(`port ${socket.address().port}`));
}

/**
 * The least a UDP relay in Node can do: a flow (connected socket) per client, no pipeline, no
 * counters. For reference: the gap between it and socat is the cost of Node's dgram, per datagram.
 */
async function udpMinimalRelay(targetPort) {
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

/** Keep `window` datagrams in flight to port (resending a window after 100 ms of silence); print JSON. */
async function udpClient(port, count, window) {
  const socket = udpSocket();
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const payload = Buffer.alloc(64);
  let sent = 0;
  let received = 0;
  let lastMs = performance.now();
  const send = () => {
    payload.writeUInt32BE(sent++ >>> 0, 0);
    socket.send(payload);
  };
  const start = performance.now();
  await new Promise((resolve) => {
    socket.on('message', () => {
      received += 1;
      lastMs = performance.now();
      if (sent < count) send();
      else if (received >= count) resolve();
    });
    const timer = setInterval(() => {
      if (performance.now() - lastMs < 100) return;
      if (sent >= count) {
        clearInterval(timer);
        resolve();
        return;
      }
      for (let i = 0; i < window && sent < count; i++) send();
      lastMs = performance.now();
    }, 50);
    for (let i = 0; i < window; i++) send();
  });
  const ms = performance.now() - start;
  console.log(JSON.stringify({ sent, received, ms, perSec: (received / ms) * 1000 }));
  socket.close();
}

// ---------------------------------------------------------------------------------------------
// Processes: each started with a deadline, stopped by PID (benchmarks/lib/proc.js).

async function runRole(args) {
  const r = start(process.execPath, [SELF, '--role', ...args], { deadlineMs: 300_000 });
  const result = await r.exited;
  if (result.code !== 0)
    throw new Error(`${args.join(' ')} failed (${result.code ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

async function startRelay(args) {
  const relay = start(process.execPath, [BIN, 'relay', ...args], { deadlineMs: 600_000 });
  const m = await relay.waitFor(/listening on \S+:(\d+)\n/, { stream: 'stderr' });
  return { ...relay, port: Number(m[1]) };
}

async function startSocat(args, port) {
  const socat = start(SOCAT, args, { deadlineMs: 600_000 });
  // socat prints nothing when ready: connect until it answers (TCP) or give it a moment (UDP).
  for (let i = 0; i < 100; i++) {
    if (args.some((a) => a.startsWith('UDP'))) {
      await new Promise((r) => setTimeout(r, 300));
      break;
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return socat;
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (x, digits = 0) => x.toFixed(digits);

async function benchTcp(rounds, mib, results, delayOnly = false) {
  const sink = start(process.execPath, [SELF, '--role', 'tcp-sink']);
  const sinkPort = Number((await sink.waitFor(/port (\d+)/, { stream: 'stdout' }))[1]);
  const socat = delayOnly
    ? undefined
    : await startSocat(
        [`TCP-LISTEN:${SOCAT_TCP_PORT},fork,reuseaddr,bind=127.0.0.1`, `TCP:127.0.0.1:${sinkPort}`],
        SOCAT_TCP_PORT,
      );
  const plain = await startRelay([`tcp://127.0.0.1:0`, `tcp://127.0.0.1:${sinkPort}`]);
  const delayed = await startRelay([`tcp://127.0.0.1:0`, `tcp://127.0.0.1:${sinkPort}`, '--delay', '50ms']);
  const variants = {
    ...(socat ? { direct: sinkPort, socat: SOCAT_TCP_PORT } : {}),
    'socklab relay': plain.port,
    'socklab relay --delay 50ms': delayed.port,
  };
  // One unmeasured transfer each: the first one through a fresh process is always slower.
  for (const port of Object.values(variants))
    await runRole(['tcp-send', String(port), String(Math.min(mib, 64))]);
  const runs = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const [name, port] of Object.entries(variants)) {
        const r = await runRole(['tcp-send', String(port), String(mib)]);
        if (r.bytes !== r.expected) throw new Error(`${name}: ${r.bytes} bytes arrived of ${r.expected}`);
        runs[name].push({ total: r.bytes / r.totalMs / 1000, steady: r.bytes / r.steadyMs / 1000 });
      }
      process.stderr.write(`tcp round ${round}/${rounds}\n`);
    }
  } finally {
    await Promise.all([socat, plain, delayed, sink].filter(Boolean).map((p) => p.stop()));
  }
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
    };
    console.log(
      `${name.padEnd(28)} ${fmt(median(total)).padStart(8)} ${fmt(best(total)).padStart(8)} ${fmt(median(steady)).padStart(11)} ${fmt(best(steady)).padStart(12)}`,
    );
  }
  const plainS = summary['socklab relay'];
  const delayedS = summary['socklab relay --delay 50ms'];
  const delayRatio = delayedS.steadyMedian / plainS.steadyMedian;
  const delayRatioBest = delayedS.steadyBest / plainS.steadyBest;
  const delayRatioTotal = delayedS.median / plainS.median;
  results.tcp = { mib, rounds, summary, delayRatio, delayRatioBest, delayRatioTotal };
  if (summary.socat) {
    const vsSocat = plainS.median / summary.socat.median;
    const vsSocatBest = plainS.best / summary.socat.best;
    console.log(
      `socklab relay / socat: ${fmt(vsSocat, 2)} (medians), ${fmt(vsSocatBest, 2)} (bests)   [must be >= 0.9]`,
    );
    Object.assign(results.tcp, { vsSocat, vsSocatBest });
  }
  console.log(
    `--delay 50ms / no fault, first to last byte: ${fmt(delayRatio, 2)} (medians), ${fmt(delayRatioBest, 2)} (bests); ` +
      `end to end, with the 50 ms: ${fmt(delayRatioTotal, 2)}   [must be >= 0.8]`,
  );
}

async function benchUdp(rounds, datagrams, results) {
  const echo = start(process.execPath, [SELF, '--role', 'udp-echo']);
  const echoPort = Number((await echo.waitFor(/port (\d+)/, { stream: 'stdout' }))[1]);
  const socat = await startSocat(
    ['-T', '10', `UDP4-LISTEN:${SOCAT_UDP_PORT},fork,reuseaddr,bind=127.0.0.1`, `UDP4:127.0.0.1:${echoPort}`],
    SOCAT_UDP_PORT,
  );
  const relay = await startRelay([`udp://127.0.0.1:0`, `udp://127.0.0.1:${echoPort}`]);
  const minimal = start(process.execPath, [SELF, '--role', 'udp-min-relay', String(echoPort)]);
  const minimalPort = Number((await minimal.waitFor(/port (\d+)/, { stream: 'stdout' }))[1]);
  const variants = {
    direct: echoPort,
    socat: SOCAT_UDP_PORT,
    'socklab relay': relay.port,
    'minimal Node dgram relay': minimalPort,
  };
  const runs = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const [name, port] of Object.entries(variants)) {
        const r = await runRole(['udp-client', String(port), String(datagrams), '32']);
        runs[name].push(r);
      }
      process.stderr.write(`udp round ${round}/${rounds}\n`);
    }
  } finally {
    await Promise.all([socat, relay, minimal, echo].map((p) => p.stop()));
  }
  console.log(
    `\nUDP datagram rate, 64-byte datagrams, 32 in flight, ${datagrams} per run, ${rounds} rounds (echoes/s)`,
  );
  console.log(`${'variant'.padEnd(28)} ${'median'.padStart(8)} ${'best'.padStart(8)} ${'lost'.padStart(6)}`);
  const summary = {};
  for (const [name, xs] of Object.entries(runs)) {
    const rates = xs.map((x) => x.perSec);
    const lost = xs.reduce((s, x) => s + (x.sent - x.received), 0);
    summary[name] = { median: median(rates), best: best(rates), lost, runs: xs };
    console.log(
      `${name.padEnd(28)} ${fmt(median(rates)).padStart(8)} ${fmt(best(rates)).padStart(8)} ${String(lost).padStart(6)}`,
    );
  }
  const vsSocat = summary['socklab relay'].median / summary.socat.median;
  const vsSocatBest = summary['socklab relay'].best / summary.socat.best;
  console.log(
    `socklab relay / socat: ${fmt(vsSocat, 2)} (medians), ${fmt(vsSocatBest, 2)} (bests)   [must be >= 0.9]`,
  );
  const minimalVsSocat = summary['minimal Node dgram relay'].median / summary.socat.median;
  console.log(
    `minimal Node dgram relay / socat: ${fmt(minimalVsSocat, 2)} (medians): the floor of Node's dgram`,
  );
  results.udp = { datagrams, rounds, summary, vsSocat, vsSocatBest, minimalVsSocat };
}

async function benchGib(mib, results) {
  const sink = start(process.execPath, [SELF, '--role', 'tcp-sink', '--hash']);
  const sinkPort = Number((await sink.waitFor(/port (\d+)/, { stream: 'stdout' }))[1]);
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
  const relay = await startRelay([
    `tcp://127.0.0.1:0`,
    `tcp://127.0.0.1:${sinkPort}`,
    ...faults,
    '--seed',
    '1',
  ]);
  let r;
  try {
    r = await runRole(['tcp-send', String(relay.port), String(mib), '--hash']);
  } finally {
    relay.signal('SIGINT');
    void sink.stop();
  }
  const end = await relay.exited;
  await sink.exited;
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

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    hash: { type: 'boolean' },
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
  const rest = process.argv.slice(process.argv.indexOf(values.role) + 1).filter((a) => a !== '--hash');
  const [a, b, c] = rest;
  if (values.role === 'tcp-sink') await tcpSink(values.hash === true);
  else if (values.role === 'tcp-send') await tcpSend(Number(a), Number(b), values.hash === true);
  else if (values.role === 'udp-echo') await udpEcho();
  else if (values.role === 'udp-client') await udpClient(Number(a), Number(b), Number(c));
  else if (values.role === 'udp-min-relay') await udpMinimalRelay(Number(a));
  else throw new Error(`unknown role ${values.role}`);
} else {
  process.on('SIGINT', () => {
    killAllNow();
    process.exit(130);
  });
  const results = { date: new Date().toISOString(), node: process.version };
  try {
    const only = values.only?.split(',');
    const has = (part) => !only || only.includes(part);
    if (has('tcp')) await benchTcp(Number(values.rounds), Number(values['tcp-mib']), results);
    else if (only.includes('delay'))
      await benchTcp(Number(values.rounds), Number(values['tcp-mib']), results, true);
    if (has('udp')) await benchUdp(Number(values.rounds), Number(values.datagrams), results);
    if (has('gib')) await benchGib(Number(values['gib-mib']), results);
  } finally {
    await stopAll();
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
}
