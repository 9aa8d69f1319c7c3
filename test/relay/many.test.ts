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
const openFds = () => readdirSync('/proc/self/fd').length;

async function settledMemory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

const MiB = 1024 * 1024;

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
    let peakFds = 0;

    const round = async () => {
      const clients: net.Socket[] = [];
      for (let batch = 0; batch < N; batch += 100) {
        const opened = await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const socket = net.connect({ port, host: '127.0.0.1' });
            socket.on('error', () => undefined);
            await within(once(socket, 'connect'), 10_000, `client ${batch + i} to connect`);
            socket.write(`hello ${batch + i}`);
            const [reply] = (await within(once(socket, 'data'), 10_000, `client ${batch + i}'s echo`)) as [
              Buffer,
            ];
            assert.equal(reply.toString(), `hello ${batch + i}`);
            return socket;
          }),
        );
        clients.push(...opened);
      }
      assert.equal(relay.stats().active, N, `${N} pairs open at once`);
      assert.equal(server.sockets.size, N);
      peakFds = openFds();
      const closed = clients.map((c) => once(c, 'close'));
      for (const c of clients) c.end();
      await within(Promise.all(closed), 20_000, 'every client to close');
      await until(
        () => relay.stats().active === 0 && server.sockets.size === 0,
        20_000,
        'every pair to close',
      );
    };

    await round(); // warm up: let Node allocate what it keeps for good
    const fdsBefore = openFds();
    const memBefore = await settledMemory();
    await round();
    const fdsAfter = openFds();
    const memAfter = await settledMemory();
    t.diagnostic(
      `fds ${fdsBefore} -> ${peakFds} with ${N} open -> ${fdsAfter}; memory ${(memBefore / MiB).toFixed(1)} MiB -> ${(memAfter / MiB).toFixed(1)} MiB`,
    );
    assert.equal(relay.stats().total, 2 * N);
    assert.ok(fdsAfter <= fdsBefore, `descriptors back to ${fdsBefore}: ${fdsAfter}`);
    assert.ok(
      memAfter - memBefore < 8 * MiB,
      `memory back near baseline: +${((memAfter - memBefore) / MiB).toFixed(1)} MiB`,
    );
    assert.equal(relay.stats().bufferedBytes, 0);
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
      flowIdleMs: 200,
      seed: 1,
    });
    t.after(() => relay.close());
    const port = relay.address().port;
    let peakFds = 0;

    const round = async () => {
      const clients: dgram.Socket[] = [];
      for (let batch = 0; batch < N; batch += 100) {
        const opened = await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const socket = dgram.createSocket('udp4');
            socket.connect(port, '127.0.0.1');
            await within(once(socket, 'connect'), 5000, 'a UDP connect');
            const reply = once(socket, 'message');
            // A datagram can be lost in a burst: send again until the answer comes.
            const resend = setInterval(() => socket.send(`flow ${batch + i}`), 200);
            socket.send(`flow ${batch + i}`);
            const [msg] = (await within(reply, 10_000, `flow ${batch + i}'s reply`)) as [Buffer];
            clearInterval(resend);
            assert.equal(msg.toString(), `flow ${batch + i}`);
            return socket;
          }),
        );
        clients.push(...opened);
      }
      assert.equal(relay.stats().active, N, `${N} flows at once`);
      peakFds = openFds();
      await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
      await until(() => relay.stats().active === 0, 20_000, 'every flow to expire');
    };

    await round();
    const fdsBefore = openFds();
    const memBefore = await settledMemory();
    await round();
    // The flows' sockets close asynchronously after they expire: give the loop a turn.
    await until(() => openFds() <= fdsBefore, 5000, `descriptors back to ${fdsBefore}`);
    const fdsAfter = openFds();
    const memAfter = await settledMemory();
    t.diagnostic(
      `fds ${fdsBefore} -> ${peakFds} with ${N} open -> ${fdsAfter}; memory ${(memBefore / MiB).toFixed(1)} MiB -> ${(memAfter / MiB).toFixed(1)} MiB`,
    );
    assert.equal(relay.stats().expired, 2 * N);
    assert.ok(fdsAfter <= fdsBefore);
    assert.ok(
      memAfter - memBefore < 8 * MiB,
      `memory back near baseline: +${((memAfter - memBefore) / MiB).toFixed(1)} MiB`,
    );
  },
);
