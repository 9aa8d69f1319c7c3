/** echo: send every message back to its sender, unchanged. */
import type { Behaviour } from './behaviour.js';

export function echo(): Behaviour {
  return {
    name: 'echo',
    onMessage: (msg, reply) => reply(msg.data),
  };
}
