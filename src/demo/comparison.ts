/**
 * The demo's last scene: a short `socklab compare` through the relay (about half a second), its
 * reading, and where to see it drawn.
 */
import { compare, type CompareResult } from '../compare/compare.js';
import type { Narrator } from './narrator.js';

/** Small enough to keep the demo fast: 200 messages, one every 2 ms. */
export const DEMO_COMPARISON = {
  messages: 200,
  intervalMs: 2,
  seed: 14,
} as const;

export async function runDemoComparison(signal: AbortSignal): Promise<CompareResult> {
  return compare({
    workload: {
      kind: 'paced',
      messages: DEMO_COMPARISON.messages,
      sizeBytes: 200,
      intervalMs: DEMO_COMPARISON.intervalMs,
    },
    faults: [
      { type: 'loss', params: { lossRate: '5%' } },
      { type: 'delay', params: { delayMs: '5ms', jitterMs: '3ms' } },
    ],
    seed: DEMO_COMPARISON.seed,
    via: 'relay',
    deadlineMs: 20_000,
    signal,
  });
}

export function compareScene(narrator: Narrator, result: CompareResult): void {
  narrator.heading('Side by side: the same messages over TCP and UDP, through faults');
  narrator.explain(
    `${DEMO_COMPARISON.messages} messages, one every ${DEMO_COMPARISON.intervalMs} ms, over both at once, through socklab's relay with 5% loss and 5 ms ±3 ms of delay (seed ${result.seed}):`,
  );
  for (const line of result.reading) {
    if (line.startsWith('Through the relay'))
      narrator.explain(
        "TCP lost nothing here because the relay forwards TCP as a stream: it may delay it, but dropping bytes would break it, so loss reached UDP only; through 'socklab link', the kernel's TCP meets the loss and resends.",
      );
    else narrator.explain(line);
  }
  narrator.explain('See every message drawn (latency, verdicts, order), in a page that needs no network:');
  narrator.command('socklab compare --loss 2% --delay 20ms --jitter 5ms --messages 2000 --html report.html');
}
