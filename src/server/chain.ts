/**
 * The behaviour chain, the one place its rules are written (TCP and UDP servers alike):
 * behaviours run in order; `'stop'` ends the chain for that message (the exit word gets no
 * reply); a behaviour that returns a promise holds the rest of the chain until it settles.
 * The result is a promise only when something had to wait, so the common case allocates none.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Behaviour, Connection, Message, Reply } from '../behaviours/behaviour.js';

/** Run the chain on one message; a promise if one of the behaviours is still busy with it. */
export function runChain(behaviours: readonly Behaviour[], msg: Message, reply: Reply): Promise<void> | void {
  for (let i = 0; i < behaviours.length; i++) {
    const result = behaviours[i]!.onMessage?.(msg, reply);
    if (result === 'stop') return;
    if (result instanceof Promise) return finishChain(behaviours, result, msg, reply, i + 1);
  }
}

async function finishChain(
  behaviours: readonly Behaviour[],
  pending: Promise<unknown>,
  msg: Message,
  reply: Reply,
  from: number,
): Promise<void> {
  if ((await pending) === 'stop') return;
  for (let i = from; i < behaviours.length; i++) {
    if ((await behaviours[i]!.onMessage?.(msg, reply)) === 'stop') return;
  }
}

/** Every behaviour's greeting for a new connection; a promise if any of them has to wait. */
export function openChain(behaviours: readonly Behaviour[], conn: Connection): Promise<unknown> | void {
  const opening: Promise<void>[] = [];
  for (const b of behaviours) {
    const result = b.onConnection?.(conn);
    if (result instanceof Promise) opening.push(result);
  }
  if (opening.length > 0) return Promise.all(opening);
}

/** `send`, after `delayMs` when there is one (`--delay`): the reply a behaviour is handed. */
export function replyAfter(delayMs: number, send: Reply): Reply {
  if (delayMs <= 0) return send;
  return async (data) => {
    await sleep(delayMs, undefined, { ref: true });
    await send(data);
  };
}
