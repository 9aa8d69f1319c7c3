/**
 * chat: relay each TCP client's messages to every other client, prefixed with the sender's
 * address (like `ncat --chat`). A client that reads too slowly is disconnected once its backlog
 * passes `maxBacklogBytes`, so it cannot hold up the room.
 */
import type { Behaviour, Connection } from './behaviour.js';

export const DEFAULT_CHAT_BACKLOG_BYTES = 1024 * 1024;

export function chat(options: { maxBacklogBytes?: number } = {}): Behaviour {
  const maxBacklog = options.maxBacklogBytes ?? DEFAULT_CHAT_BACKLOG_BYTES;
  const members = new Map<Connection, { backlog: number }>();
  return {
    name: 'chat',
    onConnection(conn) {
      members.set(conn, { backlog: 0 });
    },
    onMessage(msg) {
      const line = Buffer.concat([Buffer.from(`[${msg.peer}] `), msg.data]);
      for (const [member, state] of members) {
        if (member === msg.connection) continue;
        if (state.backlog + line.length > maxBacklog) {
          member.destroy();
          continue;
        }
        state.backlog += line.length;
        void member.send(line).then(() => {
          state.backlog -= line.length;
        });
      }
    },
    onClose(conn) {
      members.delete(conn);
    },
  };
}
