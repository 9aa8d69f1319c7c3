/**
 * createLink() as a library (run in a throwaway outer namespace: a script that imports the built
 * package there), and what the link writes down: --pcap (read back here, record by record) and
 * --log (a JSON line per packet event).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';
import { linkSkipReason, outerNamespace, type Outer } from '../helpers/netns.js';
import { findExecutable } from '../helpers/spawn.js';

const skip = await linkSkipReason();
if (skip) console.log(`# skipping the link tests: ${skip}`);
const noPing =
  (await findExecutable('ping')) === undefined ? 'ping (iputils-ping) is not installed' : undefined;

let outer: Outer;
let dir: string;
before(async () => {
  if (skip) return;
  outer = await outerNamespace();
  dir = mkdtempSync(join(tmpdir(), 'socklab-link-'));
});
after(async () => {
  if (skip) return;
  await outer.close();
  rmSync(dir, { recursive: true, force: true });
});

test(
  'createLink(): spawn inside, counters, pid for nsenter, close() leaves nothing',
  { skip: skip ?? noPing },
  async () => {
    const script = `
    import { createLink } from ${JSON.stringify(join(REPO_ROOT, 'dist/index.js'))};
    import { execFileSync } from 'node:child_process';
    import { once } from 'node:events';
    const link = await createLink({ down: [{ type: 'delay', params: { delayMs: '10ms' } }], up: [{ type: 'drop', params: { packets: [2] } }], seed: 5 });
    const inside = execFileSync('nsenter', ['-t', String(link.pid), '-n', 'ip', '-br', 'addr'], { encoding: 'utf8' });
    const child = link.spawn('ping', ['-n', '-c', '3', '-i', '0.05', '-W', '1', link.peer], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const [code] = await once(child, 'close');
    const counters = link.counters();
    await link.close();
    console.log(JSON.stringify({ peer: link.peer, inner: link.inner, inside, code, out, counters }));
  `;
    const r = await outer.run(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as {
      peer: string;
      inner: string;
      inside: string;
      code: number;
      out: string;
      counters: {
        up: { packetsIn: number; counters: { dropped: { packets: number } } };
        down: { timeInLink: { p50_us: number } };
      };
    };
    assert.match(result.inside, new RegExp(`link0\\s+UNKNOWN\\s+${result.inner.replace(/\./g, '\\.')}/30`));
    assert.equal(result.code, 0, 'ping exits 0: some replies came');
    assert.match(result.out, /3 packets transmitted, 2 received/);
    assert.equal(result.counters.up.packetsIn, 3);
    assert.equal(result.counters.up.counters.dropped.packets, 1);
    assert.ok(result.counters.down.timeInLink.p50_us >= 10_000, JSON.stringify(result.counters.down));
    assert.deepEqual(await outer.interfaces(), ['lo']);
  },
);

test(
  '--pcap writes every packet (LINKTYPE_RAW, µs timestamps); --log a JSON line per event',
  { skip: skip ?? noPing },
  async () => {
    const pcap = join(dir, 'link.pcap');
    const log = join(dir, 'link.jsonl');
    const r = await outer.link([
      '--up',
      '--drop',
      '2',
      '--pcap',
      pcap,
      '--log',
      log,
      '--json',
      '--',
      'sh',
      '-c',
      'ping -n -c 3 -i 0.05 -W 1 "$SOCKLAB_LINK_PEER" >/dev/null; exit 0',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const file = readFileSync(pcap);
    assert.equal(file.readUInt32LE(0), 0xa1b2c3d4, 'magic: microsecond timestamps');
    assert.equal(file.readUInt16LE(4), 2);
    assert.equal(file.readUInt16LE(6), 4);
    assert.equal(file.readUInt32LE(20), 101, 'LINKTYPE_RAW');
    const records: { us: number; packet: Buffer }[] = [];
    for (let at = 24; at < file.length;) {
      const len = file.readUInt32LE(at + 8);
      assert.equal(file.readUInt32LE(at + 12), len, 'whole packets');
      records.push({
        us: file.readUInt32LE(at) * 1e6 + file.readUInt32LE(at + 4),
        packet: file.subarray(at + 16, at + 16 + len),
      });
      at += 16 + len;
    }
    // 3 echo requests in (one dropped), 2 replies back.
    assert.equal(records.length, 5);
    for (const { packet } of records) {
      assert.equal(packet[0]! >> 4, 4, 'an IPv4 packet');
      assert.equal(packet[9], 1, 'ICMP');
    }
    for (let i = 1; i < records.length; i++) assert.ok(records[i]!.us >= records[i - 1]!.us, 'in time order');
    assert.ok(Math.abs(records[0]!.us / 1000 - Date.now()) < 60_000, 'wall-clock timestamps');
    const events = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { dir: string; event: string; n?: number; proto: string });
    const up = events.filter((e) => e.dir === 'up');
    assert.deepEqual(
      up.map((e) => e.event),
      ['in', 'forwarded', 'in', 'dropped', 'in', 'forwarded'],
    );
    assert.deepEqual(
      up.filter((e) => e.event === 'in').map((e) => e.n),
      [1, 2, 3],
    );
    assert.equal(events.filter((e) => e.dir === 'down' && e.event === 'forwarded').length, 2);
  },
);

test('createLink(): the path it takes by default, and why (link.path)', { skip }, async () => {
  const script = `
    import { createLink } from ${JSON.stringify(join(REPO_ROOT, 'dist/index.js'))};
    const paths = [];
    for (const options of [
      {},
      { faults: [{ type: 'delay', params: { delayMs: '5ms', jitterMs: '1ms' } }] },
      { offload: false },
      { onPacket: () => undefined },
      { up: [{ type: 'loss', params: { lossRate: '1%' } }] },
      { down: [{ type: 'corrupt', params: { corruptRate: '1%' } }] },
    ]) {
      const link = await createLink(options);
      paths.push(link.path);
      await link.close();
    }
    let refused;
    try {
      await createLink({ offload: true, up: [{ type: 'loss', params: { lossRate: '1%' } }] });
    } catch (err) {
      refused = err.code;
    }
    console.log(JSON.stringify({ paths, refused }));
  `;
  const r = await outer.run(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(r.code, 0, r.stderr);
  const { paths, refused } = JSON.parse(r.stdout) as { paths: unknown[]; refused: string };
  assert.deepEqual(paths, [
    { offload: true, why: 'no faults' },
    { offload: true, why: 'delay only' },
    { offload: false, why: 'asked for', gro: true },
    { offload: false, why: "onPacket sees the wire's packets", gro: true },
    { offload: false, why: 'loss acts on single packets', gro: true },
    { offload: false, why: 'corrupt acts on single packets' },
  ]);
  assert.equal(refused, 'SOCKLAB_ERR_USAGE');
  assert.deepEqual(await outer.interfaces(), ['lo']);
});
