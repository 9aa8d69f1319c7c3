/**
 * ReadPool: read buffers handed out as slices of reused slabs. First driven by hand the way Node
 * drives an `onread` buffer function (ask for a buffer, read into it, call back, ask again), then
 * on a real loopback connection whose chunks are held in a shuffled order before they are released:
 * a slab reused too early would overwrite a held chunk, and the SHA-256 would differ.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { adoptWithOnRead } from '../../src/core/onread.js';
import { ReadPool, SMALL_READ_BYTES, type PooledReader } from '../../src/core/read-pool.js';
import { mulberry32, randomBytes } from '../helpers/random.js';
import { within } from '../helpers/relay-peers.js';

/** Reads of these sizes, the way Node makes them: take the buffer, read into it, call back. */
function feed(reader: PooledReader, sizes: number[], fill = 0x41): void {
  for (const n of sizes) {
    const buf = typeof reader.buffer === 'function' ? reader.buffer() : reader.buffer;
    assert.ok(n <= buf.length, `a read of ${n} fits the buffer of ${buf.length}`);
    buf.fill(fill, 0, n);
    reader.callback(n, buf);
  }
}

function collecting(pool: ReadPool): { reader: PooledReader; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const reader = pool.reader((chunk) => {
    chunks.push(chunk);
    return true;
  });
  return { reader, chunks };
}

test('small reads are copied out of a 4 KiB buffer; a read that fills it switches to pooled slices', () => {
  const pool = new ReadPool({ slabBytes: 256 * 1024, sliceBytes: 64 * 1024 });
  const { reader, chunks } = collecting(pool);
  feed(reader, [10], 0x61);
  feed(reader, [100], 0x7a);
  assert.equal(pool.stats.slabs, 0, 'an idle or chatty socket takes nothing from the pool');
  assert.equal(chunks[0]!.toString(), 'a'.repeat(10), 'each small read is its own copy');
  assert.equal(chunks[1]!.toString(), 'z'.repeat(100));

  feed(reader, [SMALL_READ_BYTES], 0x62); // fills the small buffer: bulk is coming
  feed(reader, [65536, 65536], 0x63);
  assert.equal(pool.stats.slabs, 1);
  const [bulk1, bulk2] = chunks.slice(3);
  assert.equal(bulk1!.length, 65536);
  assert.equal(bulk1!.buffer, bulk2!.buffer, 'pooled chunks are views on one slab, not copies');
  assert.equal(bulk1!.toString('latin1'), 'c'.repeat(65536));

  feed(reader, [100]); // a short read: back to the small buffer for the next one
  const next = typeof reader.buffer === 'function' ? reader.buffer() : reader.buffer;
  assert.equal(next.length, SMALL_READ_BYTES);
});

test('a slab is read into again only once every byte handed out from it is released', () => {
  const pool = new ReadPool({ slabBytes: 128 * 1024, sliceBytes: 64 * 1024 });
  const { reader, chunks } = collecting(pool);
  feed(reader, [SMALL_READ_BYTES, 65536, 65536, 65536], 0x41); // slab 1 (2 slices), then slab 2
  const [, a, b, c] = chunks;
  assert.equal(pool.stats.slabs, 2);
  pool.release(a!);
  assert.equal(pool.freeSlabs, 0, 'half of slab 1 is still held');
  // A chunk released in parts, as a sliced chunk is written.
  pool.release(b!.subarray(0, 1000));
  pool.release(b!.subarray(1000));
  assert.equal(pool.freeSlabs, 1, 'slab 1 is free');
  feed(reader, [65536, 30000], 0x42); // fills slab 2, then reuses slab 1 (a short read's tail released)
  assert.equal(pool.stats.reused, 1);
  assert.equal(pool.stats.slabs, 2);
  assert.equal(c!.toString('latin1'), 'A'.repeat(65536), 'a held chunk is never overwritten');
  assert.equal(pool.stats.doubleReleases, 0);

  pool.release(c!);
  pool.release(chunks[4]!);
  assert.equal(pool.freeSlabs, 1, 'slab 2 is free');
  pool.release(c!); // a caller bug
  assert.equal(pool.stats.doubleReleases, 1, 'a byte released twice is caught (once it shows)');
  assert.equal(pool.freeSlabs, 0, 'and that slab is never read into again');
});

test('a closed reader gives back the slice it held for its next read', () => {
  const pool = new ReadPool({ slabBytes: 64 * 1024, sliceBytes: 64 * 1024 });
  const { reader, chunks } = collecting(pool);
  feed(reader, [SMALL_READ_BYTES, 65536]); // the second read takes a slab; the next read holds another
  assert.equal(pool.stats.slabs, 2);
  pool.release(chunks[1]!);
  assert.equal(pool.freeSlabs, 1);
  reader.close();
  reader.close();
  assert.equal(pool.stats.doubleReleases, 0, 'closing twice releases once');
  // Another socket's reads fill both slabs: the closed reader's slice was given back.
  feed(collecting(pool).reader, [SMALL_READ_BYTES, 65536]);
  assert.deepEqual(pool.stats, { slabs: 2, reused: 2, doubleReleases: 0 });
});

test('free slabs beyond keepFreeSlabs that go unused are dropped; close() drops the rest', async () => {
  const pool = new ReadPool({
    slabBytes: 64 * 1024,
    sliceBytes: 64 * 1024,
    keepFreeSlabs: 2,
    trimAfterMs: 20,
  });
  const { reader, chunks } = collecting(pool);
  feed(reader, [SMALL_READ_BYTES, ...Array<number>(10).fill(65536)]);
  for (const chunk of chunks) pool.release(chunk);
  assert.equal(pool.freeSlabs, 10, 'a burst released: all kept for the next burst');
  await within(
    (async () => {
      while (pool.freeSlabs > 2) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    5000,
    'the unused slabs to be dropped',
  );
  assert.equal(pool.freeSlabs, 2);
  pool.close();
  assert.equal(pool.freeSlabs, 0);
});

test('a loopback stream read into a small pool, held in a shuffled order, arrives intact', async (t) => {
  const data = randomBytes(12 << 20, 11);
  const pool = new ReadPool({ slabBytes: 256 * 1024, sliceBytes: 64 * 1024, keepFreeSlabs: 2 });
  t.after(() => pool.close());
  const random = mulberry32(3);
  /** Each chunk and a copy of it taken when it was read: at its release, they must still be equal. */
  const copies = new Map<Buffer, Buffer>();
  const inOrder: Buffer[] = [];
  const held: Buffer[] = [];
  let overwritten = 0;
  const release = (chunk: Buffer) => {
    if (!chunk.equals(copies.get(chunk)!)) overwritten += 1;
    pool.release(chunk);
  };
  const onChunk = (chunk: Buffer) => {
    const copy = Buffer.from(chunk);
    copies.set(chunk, copy);
    inOrder.push(copy);
    // Hold up to 24 chunks; then release one at random, as delays with jitter would.
    held.push(chunk);
    while (held.length > 24) release(held.splice(Math.floor(random() * held.length), 1)[0]!);
    return true;
  };
  const server = net.createServer({ pauseOnConnect: true });
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const ended = new Promise<void>((resolve, reject) => {
    server.once('connection', (accepted: net.Socket) => {
      const socket = adoptWithOnRead(accepted, pool.reader(onChunk));
      if (socket === undefined) return reject(new Error('this Node cannot re-build an accepted socket'));
      socket.on('end', resolve);
      socket.on('error', reject);
      socket.resume();
    });
  });
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  // Writes of random sizes, so that reads come in every size, small ones included.
  for (let offset = 0; offset < data.length;) {
    const n = 1 + Math.floor(random() * 200_000);
    const ok = client.write(data.subarray(offset, offset + n));
    offset += n;
    if (!ok) await once(client, 'drain');
  }
  client.end();
  await within(ended, 30_000, 'the stream');
  for (const chunk of held.splice(0)) release(chunk);

  assert.equal(Buffer.concat(inOrder).equals(data), true, 'what was read is the stream');
  assert.equal(overwritten, 0, 'no held chunk was written over before its release');
  assert.ok(pool.stats.reused > 10, `slabs were reused: ${JSON.stringify(pool.stats)}`);
  // New slabs only when none is free: at most one per held chunk, plus the one being read into.
  assert.ok(pool.stats.slabs <= 26, `at most 26 slabs: ${JSON.stringify(pool.stats)}`);
  assert.equal(pool.stats.doubleReleases, 0);
});
