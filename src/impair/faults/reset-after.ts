/**
 * reset-after (TCP), toxiproxy's reset_peer: reset the connection (RST both ways) after
 * `afterBytes` in this direction, or `afterMs` after the fault applies, whichever comes first.
 * A reset discards whatever is still in flight, as a real one does: the peer may read fewer than
 * `afterBytes`.
 */
import { defineFault, faultError } from '../fault.js';
import type { Stage, StageContext } from '../stage.js';
import {
  formatDuration,
  formatSize,
  looksLikeDuration,
  parseDuration,
  parseSize,
} from '../../measure/units.js';

export interface ResetAfterParams {
  afterBytes?: number;
  afterMs?: number;
}

export const resetAfter = defineFault<ResetAfterParams>({
  type: 'reset-after',
  summary: 'reset the connection (RST) after N bytes or T ms (toxiproxy reset_peer)',
  transports: ['tcp'],
  rank: 36,
  params: {
    afterBytes: { kind: 'size', summary: 'bytes forwarded before the reset' },
    afterMs: { kind: 'duration', summary: 'time after the fault applies before the reset' },
  },
  flags: [
    {
      flag: 'reset-after',
      value: 'SIZE|DURATION',
      summary: 'reset the connection after SIZE bytes (1mb) or DURATION (2s)',
      parse: (text, what) =>
        looksLikeDuration(text)
          ? { afterMs: parseDuration(what, text) }
          : { afterBytes: parseSize(what, text) },
    },
  ],
  check(p, what) {
    if (p.afterBytes === undefined && p.afterMs === undefined) {
      throw faultError(what, 'reset-after needs afterBytes or afterMs');
    }
  },
  // `reset-after 64KiB or 2s` (the type's name already says "after").
  describe: (p) =>
    [
      p.afterBytes !== undefined ? formatSize(p.afterBytes) : '',
      p.afterMs !== undefined ? formatDuration(p.afterMs) : '',
    ]
      .filter((part) => part !== '')
      .join(' or '),
  create(initial): Stage<ResetAfterParams> {
    let p = initial;
    let sent = 0;
    let done = false;
    let startMs: number | undefined;
    let cancel: (() => void) | undefined;
    const arm = (ctx: StageContext) => {
      cancel?.();
      cancel = undefined;
      startMs ??= ctx.clock.now();
      if (p.afterMs !== undefined && !done) {
        cancel = ctx.clock.setTimer(startMs + p.afterMs, () => {
          done = true;
          ctx.reset();
        });
      }
    };
    return {
      start: arm,
      push(packet, ctx) {
        if (done) {
          ctx.count('truncated', packet);
          return;
        }
        if (p.afterBytes === undefined) {
          ctx.emit(packet);
          return;
        }
        const room = p.afterBytes - sent;
        if (packet.data.length > room) {
          ctx.count('truncated', { ...packet, data: packet.data.subarray(room) });
          packet.data = packet.data.subarray(0, room);
        }
        sent += packet.data.length;
        if (packet.data.length > 0) ctx.emit(packet);
        if (sent >= p.afterBytes) {
          done = true;
          cancel?.();
          ctx.end('reset');
        }
      },
      end(ctx, action) {
        if (!done) ctx.end(action);
      },
      update(params, ctx) {
        p = params;
        arm(ctx);
      },
      close() {
        cancel?.();
      },
    };
  },
});
