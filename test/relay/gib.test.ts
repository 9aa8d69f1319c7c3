/**
 * The integrity check, as a user runs it: 1 GiB of seeded pseudo-random bytes through
 * `socklab relay --delay 5ms --jitter 2ms --slice 16kb --slice-variation 8kb --slice-delay 1us`
 * (the real bin, its own process) arrives with the sender's SHA-256. Delay and jitter hold chunks
 * in the relay's read pool while more are read; slicing writes each chunk in parts: a slab reused
 * too early, or a byte lost, duplicated or reordered, changes the hash.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import { startCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/random.js';
import { collect, connect, hashSink, tcpServer, within } from '../helpers/relay-peers.js';

const GIB = 1 << 30;
const CHUNK = 65536;

test('1 GiB through a CLI relay with delay, jitter and slicing arrives with the same SHA-256', async (t) => {
  const server = await tcpServer(hashSink);
  t.after(() => server.close());
  const relay = await startCli([
    'relay',
    '0',
    `127.0.0.1:${server.port}`,
    ...['--delay', '5ms', '--jitter', '2ms', '--seed', '7'],
    ...['--slice', '16kb', '--slice-variation', '8kb', '--slice-delay', '1us'],
  ]);
  t.after(() => void relay.stop('SIGKILL'));

  // 1 GiB without holding it: a seeded 1 MiB block, read from a different offset for every chunk.
  const block = randomBytes(1 << 20, 1);
  const sent = createHash('sha256');
  const client = await connect(relay.ports[0]!);
  const answer = collect(client);
  for (let n = 0, written = 0; written < GIB; n++, written += CHUNK) {
    const offset = (n * 7919) % (block.length - CHUNK);
    const chunk = block.subarray(offset, offset + CHUNK);
    sent.update(chunk);
    if (!client.write(chunk)) await within(once(client, 'drain'), 30_000, 'the relay to take more');
  }
  client.end();
  const [bytes, hash] = (await within(answer, 120_000, 'the sink to answer')).data.toString().split(' ');
  assert.equal(Number(bytes), GIB);
  assert.equal(hash, sent.digest('hex'));

  const stopped = await relay.stop();
  assert.match(stopped.stderr, /up: +forwarded \d+ \(1073741824 bytes\)/);
});
