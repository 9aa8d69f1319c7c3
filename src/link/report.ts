/** The link's counters for people: a few lines on stderr at exit. */
import { COUNTER_NAMES } from '../impair/stage.js';
import type { LinkCounters, LinkDirectionCounters } from './link.js';

/** Exact, with thousands separators: the link's drops and the kernel's retransmissions are compared. */
function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function ms(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`;
}

function direction(name: string, d: LinkDirectionCounters): string {
  const c = d.counters;
  const parts = [`${formatCount(d.packetsIn)} packets in`, `${formatCount(c.forwarded.packets)} forwarded`];
  for (const counter of COUNTER_NAMES) {
    if (counter === 'forwarded' || counter === 'delayed' || counter === 'truncated') continue;
    const n = c[counter].packets;
    if (n === 0) continue;
    const word = counter === 'overflowed' ? 'overflowed (queue full)' : counter;
    parts.push(`${formatCount(n)} ${word}`);
  }
  const lost = d.lostTcpData + d.lostTcpEmpty;
  if (lost > 0)
    parts.push(
      `of those lost, TCP: ${formatCount(d.lostTcpData)} with data, ${formatCount(d.lostTcpEmpty)} without (ACKs)`,
    );
  if (d.deviceDropped > 0) {
    parts.push(`${formatCount(d.deviceDropped)} dropped by the sending device before socklab read them`);
  }
  if (d.deviceFull > 0) parts.push(`${formatCount(d.deviceFull)} refused by a full device`);
  if (d.ignored > 0) parts.push(`${formatCount(d.ignored)} ignored (not between the link's addresses)`);
  const time =
    d.timeInLink.count > 0
      ? `; held at most ${formatCount(d.heldPeak)}; time in the link p50 ${ms(d.timeInLink.p50_us)}, p99 ${ms(d.timeInLink.p99_us)}`
      : '';
  return `  ${name}: ${parts.join(', ')}${time}\n`;
}

export function describeLinkCounters(
  counters: LinkCounters,
  link: {
    readonly peer: string;
    readonly inner: string;
    readonly seed: number;
    readonly path?: { readonly offload: boolean; readonly why: string; readonly gro?: boolean };
  },
): string {
  const k = counters.kernel;
  const kernel = k
    ? `  kernel inside: TCP ${formatCount(k.tcpOutSegs)} segments sent, ${formatCount(k.tcpRetransSegs)} retransmitted, ` +
      `${formatCount(k.tcpLossProbes)} loss probes, ${formatCount(k.tcpTimeouts)} timeouts, ${formatCount(k.tcpInCsumErrors)} checksum errors; ` +
      `UDP ${formatCount(k.udpInDatagrams)} datagrams received, ${formatCount(k.udpInErrors)} errors, ${formatCount(k.udpInCsumErrors)} checksum errors\n`
    : '';
  // Side by side: what the link took from TCP inside, and what TCP inside sent again.
  const up = counters.up;
  const reconcile =
    k && up.lostTcpData + up.lostTcpEmpty > 0
      ? `  the link dropped ${formatCount(up.lostTcpData)} TCP segments with data from inside (and ` +
        `${formatCount(up.lostTcpEmpty)} bare ACKs); TCP inside retransmitted ${formatCount(k.tcpRetransSegs)}\n`
      : '';
  const path = link.path
    ? link.path.offload
      ? `  path: offload, TCP in segments of up to 64 KiB (${link.path.why}; --no-offload: per packet)\n`
      : `  path: per packet, MTU-sized (${link.path.why})${link.path.gro ? '; runs of TCP segments written as one (GRO)' : ''}\n`
    : '';
  return (
    `socklab link ${link.inner} ⇄ ${link.peer} (seed ${link.seed}):\n` +
    path +
    direction('up (inside → outside)', counters.up) +
    direction('down (outside → inside)', counters.down) +
    kernel +
    reconcile
  );
}
