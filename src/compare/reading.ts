/**
 * A plain-language reading of a comparison, computed from its numbers: what a learner reads first.
 */
import type { LaneResult } from './analyze.js';
import type { CompareResult } from './compare.js';

type Input = Pick<CompareResult, 'via' | 'lanes' | 'sweep' | 'faults' | 'workload'>;

const n = (x: number) => x.toLocaleString('en-US');
const ms = (x: number) => `${x >= 10 ? Math.round(x) : Math.round(x * 10) / 10} ms`;
const pct = (part: number, whole: number) =>
  whole === 0 ? '0%' : `${Math.round((1000 * part) / whole) / 10}%`;

function plural(count: number, one: string, many = `${one}s`): string {
  return `${n(count)} ${count === 1 ? one : many}`;
}

function laneSentence(name: string, lane: LaneResult): string {
  const parts: string[] = [];
  if (lane.status === 'failed')
    return `${name} failed (${lane.error ?? 'no reason given'}): it had delivered ${n(lane.delivered)} of ${n(lane.sent)} messages by then.`;
  const head = `${name} delivered ${n(lane.delivered)} of ${n(lane.sent)}`;
  if (lane.lost > 0) parts.push(`${n(lane.lost)} lost`);
  if (lane.reordered > 0) parts.push(`${n(lane.reordered)} out of order`);
  else if (lane.delivered > 0) parts.push('all in order');
  if (lane.duplicated > 0) parts.push(`${plural(lane.duplicated, 'message')} twice or more`);
  if (lane.corrupted > 0)
    parts.push(
      `${plural(lane.corrupted, 'corrupted copy', 'corrupted copies')} handed over, caught only by the message's own checksum`,
    );
  if (lane.late > 0)
    parts.push(
      `${n(lane.late)} arrived late (up to ${ms(lane.late_by_ms_max)} over the median), held back behind an earlier message (head-of-line blocking)`,
    );
  else if (lane.transport === 'udp' && lane.delivered > 0) parts.push('none waited for another');
  if (typeof lane.retransmissions === 'number') {
    const dropped = lane.path?.dropped ?? 0;
    const back = lane.path?.dropped_back ?? 0;
    parts.push(
      `its kernel resent ${plural(lane.retransmissions, 'segment')}` +
        (dropped + back > 0
          ? ` after the link dropped ${plural(dropped, 'packet')} on the way${back > 0 ? ` and ${n(back)} on the way back (ACKs)` : ''}`
          : ''),
    );
  }
  const deadline = lane.status === 'deadline' ? ' (the run hit its deadline: what came until then)' : '';
  return `${head}${deadline}: ${parts.join('; ')}.`;
}

export function readingOf(result: Input): string[] {
  const out: string[] = [];
  const { tcp, udp } = result.lanes;
  if (tcp) out.push(laneSentence('TCP', tcp));
  if (udp) out.push(laneSentence('UDP', udp));
  if (tcp && udp && tcp.delivered > 0 && udp.delivered > 0) {
    const kind = tcp.latency_kind === 'round-trip' ? 'round-trip' : 'one-way';
    out.push(
      `Median ${kind} latency: TCP ${ms(tcp.latency_ms.p50)}, UDP ${ms(udp.latency_ms.p50)}; ` +
        `99th percentile: TCP ${ms(tcp.latency_ms.p99)}, UDP ${ms(udp.latency_ms.p99)}; ` +
        `worst: TCP ${ms(tcp.latency_ms.max)}, UDP ${ms(udp.latency_ms.max)}.`,
    );
    if (result.workload.kind === 'bulk') {
      const mbit = (bps: number) => `${Math.round(bps / 1e5) / 10} Mbit/s`;
      out.push(
        `Goodput (intact bytes delivered per second): TCP ${mbit(tcp.goodput_bps)}, UDP ${mbit(udp.goodput_bps)}.`,
      );
    }
  }
  if (result.via === 'relay') {
    const udpOnly = result.faults.udp.filter((f) => /^(loss|duplicate|reorder|corrupt) /.test(f));
    if (udpOnly.length > 0)
      out.push(
        `Through the relay, ${udpOnly.map((f) => f.split(' ')[0]).join(', ')} reached the UDP lane only: TCP's stream was delayed, not lossy (see the note).`,
      );
  }
  if (result.sweep && result.sweep.points.length > 1) {
    const points = result.sweep.points;
    const first = points[0]!;
    const last = points.at(-1)!;
    const range = `${result.sweep.fault} from ${first.value} to ${last.value}`;
    if (first.lanes.udp && last.lanes.udp)
      out.push(
        `As ${range.replace(' from ', ' went from ')}: UDP delivered ${pct(first.lanes.udp.delivered, first.lanes.udp.sent)} then ${pct(last.lanes.udp.delivered, last.lanes.udp.sent)} of its messages.`,
      );
    if (first.lanes.tcp && last.lanes.tcp)
      out.push(
        `TCP delivered ${pct(first.lanes.tcp.delivered, first.lanes.tcp.sent)} then ${pct(last.lanes.tcp.delivered, last.lanes.tcp.sent)}, its 99th-percentile latency ${ms(first.lanes.tcp.latency_ms.p99)} then ${ms(last.lanes.tcp.latency_ms.p99)}.`,
      );
  }
  return out;
}
