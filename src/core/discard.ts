/**
 * Reading a TCP connection whose bytes are only counted (`listen --quiet`, a benchmark sink) into
 * one reused buffer, with Node's `onread` option (see onread.ts): no Buffer is allocated per read,
 * which is what keeps a plain Node receiver at about half of a C one (a fresh 64 KiB Buffer, and
 * the garbage it becomes, per read).
 */
import type net from 'node:net';
import { adoptWithOnRead } from './onread.js';

/** One buffer for every connection: the callback runs synchronously and never keeps it. */
const SCRATCH = Buffer.allocUnsafe(256 * 1024);

/**
 * Start reading `socket` (paused since accept), calling `onBytes` with each read's length. Returns
 * the socket to use from now on: its 'end', 'close', 'error', timeouts, writes and `end()` work as
 * usual; it emits no 'data'.
 */
export function readDiscarding(socket: net.Socket, onBytes: (n: number) => void): net.Socket {
  const adopted = adoptWithOnRead(socket, {
    buffer: SCRATCH,
    callback: (n) => {
      onBytes(n);
      return true;
    },
  });
  if (adopted === undefined) {
    socket.on('data', (chunk: Buffer) => onBytes(chunk.length));
    socket.resume();
    return socket;
  }
  adopted.resume();
  return adopted;
}
