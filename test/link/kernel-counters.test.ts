/** The kernel's counters as /proc/net/snmp and /proc/net/netstat write them (pairs of lines). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSnmp, readKernelCounters } from '../../src/link/kernel-counters.js';

test('parseSnmp: a header line and a value line per protocol', () => {
  const text =
    'Tcp: RtoAlgorithm RtoMin OutSegs RetransSegs InCsumErrors\n' +
    'Tcp: 1 200 1234 17 0\n' +
    'Udp: InDatagrams NoPorts InErrors\n' +
    'Udp: 99 3 2\n';
  const m = parseSnmp(text);
  assert.equal(m.get('Tcp.OutSegs'), 1234);
  assert.equal(m.get('Tcp.RetransSegs'), 17);
  assert.equal(m.get('Udp.InErrors'), 2);
  assert.equal(m.get('Udp.Nothing'), undefined);
});

test(
  'readKernelCounters: this process’s own namespace, as numbers',
  { skip: process.platform !== 'linux' },
  () => {
    const k = readKernelCounters(process.pid);
    for (const [name, value] of Object.entries(k)) assert.ok(Number.isSafeInteger(value) && value >= 0, name);
  },
);
