/**
 * slice (TCP), toxiproxy's slicer: cut the stream into small segments of about `averageSizeBytes`
 * (± `sizeVariationBytes`), `sliceDelayMs` apart. Every byte goes through, in order. The segments
 * are written one by one with Nagle off, but TCP may still merge them on the way: a receiver must
 * not depend on segment boundaries.
 */
import { defineFault, faultError } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../measure/units.js';

export interface SliceParams {
  averageSizeBytes: number;
  sizeVariationBytes: number;
  sliceDelayMs: number;
}

export const slice = defineFault<SliceParams>({
  type: 'slice',
  summary: 'cut the stream into small segments with a delay between them (toxiproxy slicer)',
  transports: ['tcp'],
  rank: 70,
  params: {
    averageSizeBytes: { kind: 'size', summary: 'average segment size', required: true },
    sizeVariationBytes: { kind: 'size', summary: 'segments vary by up to ± this', default: 0 },
    sliceDelayMs: { kind: 'duration', summary: 'time between segments', default: 0 },
  },
  flags: [
    {
      flag: 'slice',
      value: 'SIZE',
      summary: 'cut the stream into segments of about SIZE bytes: 1400, 4kb',
      parse: (text, what) => ({ averageSizeBytes: parseSize(what, text) }),
    },
    {
      flag: 'slice-delay',
      value: 'DURATION',
      summary: 'time between segments (default 0)',
      modifier: true,
      parse: (text, what) => ({ sliceDelayMs: parseDuration(what, text) }),
    },
    {
      flag: 'slice-variation',
      value: 'SIZE',
      summary: 'segment sizes vary by up to ± SIZE (default 0)',
      modifier: true,
      parse: (text, what) => ({ sizeVariationBytes: parseSize(what, text) }),
    },
  ],
  check(p, what) {
    if (p.averageSizeBytes < 1) throw faultError(what, 'slice size must be at least 1 byte');
    if (p.sizeVariationBytes >= p.averageSizeBytes) {
      throw faultError(what, 'slice variation must be smaller than the slice size');
    }
  },
  describe: (p) =>
    `${formatSize(p.averageSizeBytes)}${p.sizeVariationBytes > 0 ? ` ±${formatSize(p.sizeVariationBytes)}` : ''}${
      p.sliceDelayMs > 0 ? ` every ${formatDuration(p.sliceDelayMs)}` : ''
    }`,
  create(initial): Stage<SliceParams> {
    let p = initial;
    /** When the next segment may leave. */
    let nextMs = -Infinity;
    return {
      push(packet, ctx) {
        const data = packet.data;
        let due = Math.max(packet.dueMs, nextMs);
        for (let offset = 0; offset < data.length;) {
          const spread = p.sizeVariationBytes;
          const size =
            spread > 0 ? p.averageSizeBytes - spread + ctx.random.below(2 * spread + 1) : p.averageSizeBytes;
          const part = data.subarray(offset, offset + size);
          offset += part.length;
          ctx.emit({ data: part, arrivedMs: packet.arrivedMs, dueMs: due });
          nextMs = due + p.sliceDelayMs;
          due = nextMs;
        }
      },
      update(params) {
        p = params;
      },
    };
  },
});
