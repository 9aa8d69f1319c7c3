/** slow-close (TCP), toxiproxy's slow_close: hold the end of the stream (FIN) for `delayMs`. */
import { defineFault } from '../fault.js';
import type { EndAction, Stage, StageContext } from '../stage.js';
import { formatDuration, parseDuration } from '../../measure/units.js';

export interface SlowCloseParams {
  delayMs: number;
}

export const slowClose = defineFault<SlowCloseParams>({
  type: 'slow-close',
  summary: 'hold the close (FIN) for a time (toxiproxy slow_close)',
  transports: ['tcp'],
  rank: 110,
  params: {
    delayMs: { kind: 'duration', summary: 'how long the FIN is held', required: true },
  },
  flags: [
    {
      flag: 'slow-close',
      value: 'DURATION',
      summary: 'hold the close (FIN) for DURATION',
      parse: (text, what) => ({ delayMs: parseDuration(what, text) }),
    },
  ],
  describe: (p) => formatDuration(p.delayMs),
  create(initial): Stage<SlowCloseParams> {
    let p = initial;
    let pending: { action: EndAction; atMs: number } | undefined;
    let cancel: (() => void) | undefined;
    const arm = (ctx: StageContext) => {
      cancel?.();
      if (!pending) return;
      const { action, atMs } = pending;
      cancel = ctx.clock.setTimer(atMs, () => {
        pending = undefined;
        cancel = undefined;
        ctx.end(action);
      });
    };
    return {
      push(packet, ctx) {
        ctx.emit(packet);
      },
      end(ctx, action) {
        pending = { action, atMs: ctx.clock.now() + p.delayMs };
        arm(ctx);
      },
      update(params, ctx) {
        if (pending) pending.atMs += params.delayMs - p.delayMs;
        p = params;
        arm(ctx);
      },
      release(ctx) {
        cancel?.();
        cancel = undefined;
        if (pending) {
          const { action } = pending;
          pending = undefined;
          ctx.end(action);
        }
      },
      close() {
        cancel?.();
      },
    };
  },
});
