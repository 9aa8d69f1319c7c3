/**
 * exit-word: a TCP client that sends WORD (trailing CR/LF ignored) is disconnected, gracefully,
 * and the word gets no reply. On UDP there is no connection: the word is simply not answered.
 */
import type { Behaviour } from './behaviour.js';
import { trimLineEnding } from './reply.js';

export function exitWord(word: string): Behaviour {
  const expected = Buffer.from(word);
  return {
    name: 'exit-word',
    onMessage(msg) {
      if (!trimLineEnding(msg.data).body.equals(expected)) return;
      msg.connection?.end();
      return 'stop';
    },
  };
}
