/**
 * The sequence diagram as inline SVG, built from the data (sequence.ts): the sender's line on the
 * left, the receiver's on the right, time going down; one arrow per packet from when it entered
 * the link to when it left it; the dropped segment ends in a red X half-way, its retransmission
 * is drawn thick and green, the duplicate ACKs that asked for it amber.
 */
import type { Sequence, SequencePacket } from '../sequence.js';

const WIDTH = 900;
const SENDER_X = 250;
const RECEIVER_X = 690;
const TOP = 56;
const BOTTOM = 24;
/** Target height of the time span (px), and the px per ms allowed. */
const SPAN_PX = 760;
const MIN_SCALE = 0.6;
const MAX_SCALE = 12;
/** Labels on one side closer than this (px) to the previous one are left out. */
const LABEL_GAP = 11;

const COLOR = {
  data: '#2a6fdb',
  ack: '#8a9099',
  dupAck: '#e0a100',
  dropped: '#e03131',
  resent: '#2f9e44',
} as const;

const escape = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const f1 = (x: number) => x.toFixed(1);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The kind of arrow: what the colour and the class say. */
export function arrowKind(
  sequence: Sequence,
  p: SequencePacket,
  i: number,
): 'data' | 'ack' | 'dup-ack' | 'dropped' | 'resent' {
  if (p.role === 'dropped' || p.role === 'resent') return p.role;
  if (p.dir === 'down' && p.len === 0 && p.ack === sequence.dropped.seq) {
    const firstAsking = sequence.packets.findIndex(
      (q) => q.dir === 'down' && q.len === 0 && q.ack === sequence.dropped.seq,
    );
    if (i !== firstAsking) return 'dup-ack';
  }
  return p.role;
}

function label(p: SequencePacket, kind: string): string {
  const range = `${p.seq}:${p.seq + p.len}`;
  if (p.dir === 'up') {
    if (p.len === 0) return p.flags.includes('S') ? 'SYN' : p.flags.includes('F') ? 'FIN' : `ack ${p.ack}`;
    return kind === 'dropped' ? `${range} lost` : kind === 'resent' ? `${range} resent` : range;
  }
  return p.len > 0 ? `${range} (reply)` : `ack ${p.ack}${kind === 'dup-ack' ? ' (dup)' : ''}`;
}

/** The diagram, an <svg> element (id "sequence"): each arrow a <g class="packet KIND">. */
export function sequenceSvg(sequence: Sequence): string {
  const packets = sequence.packets;
  const times = packets.flatMap((p) => (p.arrivedMs === null ? [p.sentMs] : [p.sentMs, p.arrivedMs]));
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const span = Math.max(1, t1 - t0);
  const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, SPAN_PX / span));
  const height = TOP + span * scale + BOTTOM;
  const y = (t: number) => TOP + (t - t0) * scale;
  // Where a dropped packet died: half-way along the path a delivered one takes.
  const transit = {
    up: median(
      packets.filter((p) => p.dir === 'up' && p.arrivedMs !== null).map((p) => p.arrivedMs! - p.sentMs),
    ),
    down: median(
      packets.filter((p) => p.dir === 'down' && p.arrivedMs !== null).map((p) => p.arrivedMs! - p.sentMs),
    ),
  };
  const out: string[] = [];
  out.push(
    `<svg id="sequence" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${Math.ceil(height)}" width="100%" role="img" aria-label="${escape(sequence.caption)}">`,
    '<defs>',
    ...Object.entries(COLOR).map(
      ([name, color]) =>
        `<marker id="head-${name}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${color}"/></marker>`,
    ),
    '</defs>',
  );
  // Time axis: a tick every 1, 2, 5, 10, … ms, at least 40 px apart.
  const step = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000].find((s) => s * scale >= 40) ?? 5000;
  for (let t = Math.ceil(t0 / step) * step, n = 0; t <= t1 && n < 200; t += step, n++) {
    out.push(
      `<line x1="60" x2="${WIDTH - 20}" y1="${f1(y(t))}" y2="${f1(y(t))}" stroke="#eee"/>`,
      `<text x="56" y="${f1(y(t) + 4)}" text-anchor="end" font-size="11" fill="#777">${t} ms</text>`,
    );
  }
  out.push(
    `<text x="${SENDER_X}" y="20" text-anchor="middle" font-size="13" font-weight="600">sender (inside the link)</text>`,
    `<text x="${RECEIVER_X}" y="20" text-anchor="middle" font-size="13" font-weight="600">receiver (outside)</text>`,
    `<text x="${(SENDER_X + RECEIVER_X) / 2}" y="38" text-anchor="middle" font-size="11" fill="#777">the link (its delay and its losses)</text>`,
    `<line x1="${SENDER_X}" x2="${SENDER_X}" y1="${TOP - 8}" y2="${f1(height - 8)}" stroke="#333" stroke-width="2"/>`,
    `<line x1="${RECEIVER_X}" x2="${RECEIVER_X}" y1="${TOP - 8}" y2="${f1(height - 8)}" stroke="#333" stroke-width="2"/>`,
  );
  // Highlighted arrows last, so they are drawn on top.
  const order = packets.map((p, i) => ({ p, i, kind: arrowKind(sequence, p, i) }));
  const rank = (k: string) => (k === 'data' || k === 'ack' ? 0 : 1);
  order.sort((a, b) => rank(a.kind) - rank(b.kind) || a.i - b.i);
  const labels: { side: 'left' | 'right'; at: number; text: string; color: string; strong: boolean }[] = [];
  for (const { p, i, kind } of order) {
    const from = p.dir === 'up' ? SENDER_X : RECEIVER_X;
    const to = p.dir === 'up' ? RECEIVER_X : SENDER_X;
    const color = COLOR[kind === 'dup-ack' ? 'dupAck' : kind];
    const strong = kind === 'dropped' || i === sequence.retransmission?.index;
    const width = strong ? 3 : kind === 'data' || kind === 'ack' ? 1.2 : 2;
    const what = label(p, kind);
    const title = `${what}: ${p.dir === 'up' ? 'sender → receiver' : 'receiver → sender'}, into the link at ${p.sentMs} ms, ${p.arrivedMs === null ? 'dropped' : `out at ${p.arrivedMs} ms`}`;
    const y0 = y(p.sentMs);
    if (p.arrivedMs === null) {
      const x1 = (from + to) / 2;
      const y1 = y(p.sentMs + transit[p.dir] / 2);
      const s = strong ? 8 : 5;
      out.push(
        `<g class="packet ${kind} lost" data-index="${i}"><title>${escape(title)}</title>`,
        `<line x1="${from}" y1="${f1(y0)}" x2="${x1}" y2="${f1(y1)}" stroke="${color}" stroke-width="${width}" stroke-dasharray="5 3"/>`,
        `<path class="died" d="M${x1 - s},${f1(y1 - s)} L${x1 + s},${f1(y1 + s)} M${x1 - s},${f1(y1 + s)} L${x1 + s},${f1(y1 - s)}" stroke="${COLOR.dropped}" stroke-width="${strong ? 3.5 : 2.5}"/>`,
        '</g>',
      );
    } else {
      out.push(
        `<g class="packet ${kind}" data-index="${i}"><title>${escape(title)}</title>`,
        `<line x1="${from}" y1="${f1(y0)}" x2="${to}" y2="${f1(y(p.arrivedMs))}" stroke="${color}" stroke-width="${width}" marker-end="url(#head-${kind === 'dup-ack' ? 'dupAck' : kind})"/>`,
        '</g>',
      );
    }
    labels.push({
      side: p.dir === 'up' ? 'left' : 'right',
      at: y0,
      text: what,
      color: kind === 'data' || kind === 'ack' ? '#555' : color,
      strong: kind !== 'data' && kind !== 'ack',
    });
  }
  // Labels beside the line each packet left from: the highlighted ones always, others where room.
  labels.sort((a, b) => Number(b.strong) - Number(a.strong) || a.at - b.at);
  const taken: Record<'left' | 'right', number[]> = { left: [], right: [] };
  for (const l of labels) {
    if (!l.strong && taken[l.side].some((at) => Math.abs(at - l.at) < LABEL_GAP)) continue;
    taken[l.side].push(l.at);
    const x = l.side === 'left' ? SENDER_X - 8 : RECEIVER_X + 8;
    out.push(
      `<text class="label" x="${x}" y="${f1(l.at + 4)}" text-anchor="${l.side === 'left' ? 'end' : 'start'}" font-size="11" fill="${l.color}"${l.strong ? ' font-weight="600"' : ''}>${escape(l.text)}</text>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}
