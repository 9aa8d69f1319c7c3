/**
 * stall (TCP): stop forwarding and keep the connection open, for `durationMs` from when the fault
 * applies (the connection opens, or the fault is added) or, without it, until the fault is removed
 * (toxiproxy's timeout toxic with timeout 0, except that nothing is dropped). What arrives
 * meanwhile is held (counted against the buffer bound, each packet with its overhead); once the
 * bound is reached the relay stops reading and the sender feels TCP backpressure. Then everything
 * goes on.
 */
import { defineFault } from '../fault.js';
import type { EndAction, Packet, Stage, StageContext } from '../stage.js';
import { formatDuration, parseDuration } from '../../measure/units.js';

export interface StallParams {
  /** Absent: until the fault is removed. */
  durationMs?: number;
}

export const stall = defineFault<StallParams>({
  type: 'stall',
  summary: 'stop forwarding for a time (or until removed), keep the connection open',
  transports: ['tcp'],
  rank: 80,
  params: {
    durationMs: { kind: 'duration', summary: 'how long, from when the fault applies; absent: until removed' },
  },
  flags: [
    {
      flag: 'stall',
      value: 'DURATION|forever',
      summary: 'forward nothing for DURATION, or until removed (API); keep open',
      parse: (text, what) => (text.trim() === 'forever' ? {} : { durationMs: parseDuration(what, text) }),
    },
  ],
  describe: (p) => (p.durationMs === undefined ? 'until removed' : `for ${formatDuration(p.durationMs)}`),
  create(initial): Stage<StallParams> {
    let p = initial;
    let startMs: number | undefined;
    let held: Packet[] = [];
    let heldBytes = 0;
    let heldEnd: EndAction | undefined;
    let cancel: (() => void) | undefined;

    const until = () => (p.durationMs === undefined ? Infinity : (startMs ?? 0) + p.durationMs);
    const releaseAll = (ctx: StageContext) => {
      cancel?.();
      cancel = undefined;
      const out = held;
      held = [];
      heldBytes = 0;
      const now = ctx.clock.now();
      for (const packet of out) {
        if (packet.dueMs < now) packet.dueMs = now;
        ctx.emit(packet);
      }
      if (heldEnd !== undefined) ctx.end(heldEnd);
    };
    const open = (ctx: StageContext) => {
      startMs ??= ctx.clock.now();
      return ctx.clock.now() >= until();
    };
    const arm = (ctx: StageContext) => {
      cancel?.();
      cancel = undefined;
      const at = until();
      if (Number.isFinite(at)) cancel = ctx.clock.setTimer(at, () => releaseAll(ctx));
    };
    return {
      get heldBytes() {
        return heldBytes;
      },
      get heldPackets() {
        return held.length;
      },
      start(ctx) {
        startMs = ctx.clock.now();
      },
      push(packet, ctx) {
        if (held.length === 0 && open(ctx)) {
          ctx.emit(packet);
          return;
        }
        if (held.length === 0) arm(ctx);
        held.push(packet);
        heldBytes += packet.data.length;
      },
      end(ctx, action) {
        if (held.length === 0 && open(ctx)) ctx.end(action);
        else {
          heldEnd = action;
          if (!cancel) arm(ctx);
        }
      },
      update(params, ctx) {
        p = params;
        if (open(ctx)) releaseAll(ctx);
        else if (held.length > 0 || heldEnd !== undefined) arm(ctx);
      },
      release: releaseAll,
      close() {
        cancel?.();
      },
    };
  },
});
