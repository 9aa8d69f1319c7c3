/**
 * The demo as a library function: every scene in order, narrated by `narrator` (the CLI's text,
 * or `silentNarrator`), and the facts they measured. Loopback only, ports from the OS, nothing
 * left open when it returns.
 */
import type { DemoFacts } from './facts.js';
import { silentNarrator, type Narrator } from './narrator.js';
import { printScene } from './print.js';
import { promisesScene } from './promises.js';
import { replyScene } from './reply.js';
import { DEMO_HOST, since } from './stage.js';
import { welcomeScene } from './welcome-exit.js';

export interface RunDemoOptions {
  /** Who tells the story (default: nobody, only the facts are returned). */
  readonly narrator?: Narrator;
  readonly signal?: AbortSignal;
}

/** Runs every scene in order; the facts they measured, with the total time. */
export async function runDemo(options: RunDemoOptions = {}): Promise<DemoFacts> {
  const ctx = {
    narrator: options.narrator ?? silentNarrator,
    signal: options.signal ?? new AbortController().signal,
  };
  const start = performance.now();
  ctx.narrator.heading('socklab demo');
  ctx.narrator.explain(
    "The seeds' conversations, run just now on 127.0.0.1 with ports from the OS, in this process. " +
      '"client → server" is a message on the wire; "server:" is what a program did or saw.',
  );
  const print = await printScene(ctx);
  const reply = await replyScene(ctx);
  const welcome = await welcomeScene(ctx);
  const promises = await promisesScene(ctx);
  return { host: DEMO_HOST, print, reply, welcome, promises, durationMs: since(start) };
}
