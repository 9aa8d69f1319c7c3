/**
 * Many flows through one relay: 1,000 concurrent TCP pairs and 1,000 UDP flows, then no leaks once
 * they close: file descriptors (/proc/self/fd) back to where they were, memory back near it.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createRelay } from '../../src/relay/relay.js';
import { echo, tcpServer, udpServer, until, within } from '../helpers/relay-peers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const N = 1000;
const MiB = 1024 * 1024;
const openFds = () => readdirSync('/proc/self/fd').length;

async function settledMemory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

/** Runs `round` twice (the first warms up what Node keeps for good); checks the second leaks nothing. */
async function checkNoLeaks(
  t: test.TestContext,
  round: () => Promise<number>,
  extra: () => void,
): Promise<void> {
  await round();
  const fdsBefore = openFds();
  const memBefore = await settledMemory();
  const peakFds = await round();
  await until(() => openFds() <= fdsBefore, 5000, `descriptors back to ${fdsBefore}`);
  const fdsAfter = openFds();
  const memAfter = await settledMemory();
  const mib = (x: number) => `${(x / MiB).toFixed(1)} MiB`;
  t.diagnostic(
    `fds ${fdsBefore} -> ${peakFds} with ${N} open -> ${fdsAfter}; memory ${mib(memBefore)} -> ${mib(memAfter)}`,
  );
  assert.ok(fdsAfter <= fdsBefore, `descriptors back to ${fdsBefore}: ${fdsAfter}`);
  assert.ok(memAfter - memBefore < 8 * MiB, `memory back near baseline: +${mib(memAfter - memBefore)}`);
  extra();
}

test(
  `${N} concurrent TCP pairs through one relay, then no leaked descriptors or memory`,
  { timeout: 120_000 },
  async (t) => {
    const server = await tcpServer(echo);
    t.after(() => server.close());
    const relay = await createRelay({
      listen: 'tcp://127.0.0.1:0',
      upstream: `tcp://127.0.0.1:${server.port}`,
      faults: [{ type: 'delay', params: { delayMs: 1, jitterMs: 1 } }],
      seed: 1,
    });
    t.after(() => relay.close());
    const port = relay.address().port;
    const live = new Set<net.Socket>();
    t.after(() => live.forEach((socket) => socket.destroy())); // if an assertion fails half-way

    const round = async (): Promise<number> => {
      for (let batch = 0; batch < N; batch += 100) {
        await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const socket = net.connect({ port, host: '127.0.0.1' });
            live.add(socket);
            socket.on('close', () => live.delete(socket));
            socket.on('error', () => undefined);
            await within(once(socket, 'connect'), 10_000, `client ${batch + i} to connect`);
            socket.write(`hello ${batch + i}`);
            const [reply] = (await within(once(socket, 'data'), 10_000, `client ${batch + i}'s echo`)) as [
              Buffer,
            ];
            assert.equal(reply.toString(), `hello ${batch + i}`);
          }),
        );
      }
      assert.equal(relay.stats().active, N, `${N} pairs open at once`);
      assert.equal(server.sockets.size, N);
      const peak = openFds();
      const closed = [...live].map((socket) => once(socket, 'close'));
      for (const socket of live) socket.end();
      await within(Promise.all(closed), 20_000, 'every client to close');
      await until(
        () => relay.stats().active === 0 && server.sockets.size === 0,
        20_000,
        'every pair to close',
      );
      return peak;
    };
    await checkNoLeaks(t, round, () => {
      assert.equal(relay.stats().total, 2 * N);
      assert.equal(relay.stats().bufferedBytes, 0);
    });
  },
);

test(
  `${N} UDP flows through one relay, expired when idle, then no leaked descriptors or memory`,
  { timeout: 120_000 },
  async (t) => {
    const server = await udpServer();
    t.after(() => server.close());
    const relay = await createRelay({
      listen: 'udp://127.0.0.1:0',
      upstream: `udp://127.0.0.1:${server.port}`,
      faults: [{ type: 'delay', params: { delayMs: 1 } }],
      // Long enough for all the flows to be open at once on a busy machine; each round waits it out.
      flowIdleMs: 2000,
      seed: 1,
    });
    t.after(() => relay.close());
    const port = relay.address().port;
    const live = new Set<dgram.Socket>();
    const timers = new Set<NodeJS.Timeout>();
    t.after(() => {
      // If an assertion fails half-way.
      timers.forEach((timer) => clearInterval(timer));
      live.forEach((socket) => socket.close());
    });

    const round = async (): Promise<number> => {
      for (let batch = 0; batch < N; batch += 100) {
        await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const socket = dgram.createSocket('udp4');
            live.add(socket);
            socket.connect(port, '127.0.0.1');
            await within(once(socket, 'connect'), 5000, 'a UDP connect');
            const reply = once(socket, 'message');
            // A datagram can be lost in a burst: send again until the answer comes.
            const resend = setInterval(() => socket.send(`flow ${batch + i}`), 200);
            timers.add(resend);
            socket.send(`flow ${batch + i}`);
            const [msg] = (await within(reply, 10_000, `flow ${batch + i}'s reply`)) as [Buffer];
            clearInterval(resend);
            timers.delete(resend);
            assert.equal(msg.toString(), `flow ${batch + i}`);
          }),
        );
      }
      assert.equal(relay.stats().active, N, `${N} flows at once`);
      const peak = openFds();
      await Promise.all(
        [...live].map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))),
      );
      live.clear();
      await until(() => relay.stats().active === 0, 20_000, 'every flow to expire');
      return peak;
    };
    await checkNoLeaks(t, round, () => assert.equal(relay.stats().expired, 2 * N));
  },
);
