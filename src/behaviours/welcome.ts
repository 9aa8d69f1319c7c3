/**
 * welcome: greet each new TCP client with a fixed text (seed 003's `Welcome!`), framed as the
 * server frames its messages (a line when the server speaks lines).
 */
import type { Behaviour } from './behaviour.js';

export function welcome(text: Buffer | string): Behaviour {
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  return {
    name: 'welcome',
    onConnection: (conn) => conn.sendMessage(data),
  };
}
