/**
 * Scene 4: what TCP promises and UDP does not, measured in this run on loopback: message
 * boundaries, delivery, and what happens when nobody is there.
 */
import { boundariesPart } from './boundaries.js';
import { closedPortPart } from './closed-port.js';
import { deliveryPart, type DeliveryOptions } from './delivery.js';
import type { PromiseFacts } from './facts.js';
import type { SceneContext } from './stage.js';

export async function promisesScene(ctx: SceneContext, delivery?: DeliveryOptions): Promise<PromiseFacts> {
  ctx.narrator.heading('4. What TCP promises and UDP does not (measured now, on this machine)');
  const boundaries = await boundariesPart(ctx);
  const deliveryFacts = await deliveryPart(ctx, delivery);
  const closedPort = await closedPortPart(ctx);
  return { boundaries, delivery: deliveryFacts, closedPort };
}
