/**
 * Reading a TCP connection whose bytes are only counted (`listen --quiet`, a benchmark sink) into
 * one reused buffer, with Node's `onread` option: no Buffer is allocated per read, which is what
 * keeps a plain Node receiver at about half of a C one (a fresh 64 KiB Buffer, and the garbage
 * it becomes, per read).
 *
 * Node gives `onread` only to sockets built with it (`net.connect`, `new net.Socket`). An accepted
 * socket is therefore re-built around its handle before it has read anything (the server must be
 * created with `pauseOnConnect: true`), and the server's connection count moves to the new
 * socket. This touches two of Node's internal fields (`_handle`, `_server`, stable since Node 12);
 * where they are not as expected, the socket is read the ordinary way and only the speed differs.
 */
import net from 'node:net';

/** One buffer for every connection: the callback runs synchronously and never keeps it. */
const SCRATCH = Buffer.allocUnsafe(256 * 1024);

interface SocketInternals {
  _handle: object | null;
  _server: net.Server | null;
}

/**
 * Start reading `socket` (paused since accept), calling `onBytes` with each read's length. Returns
 * the socket to use from now on: its 'end', 'close', 'error', timeouts, writes and `end()` work as
 * usual; it emits no 'data'.
 */
export function readDiscarding(socket: net.Socket, onBytes: (n: number) => void): net.Socket {
  const old = socket as unknown as SocketInternals;
  const handle = old._handle;
  if (handle === null || typeof handle !== 'object' || !('readStart' in handle) || socket.bytesRead > 0) {
    socket.on('data', (chunk: Buffer) => onBytes(chunk.length));
    socket.resume();
    return socket;
  }
  const server = old._server;
  old._handle = null;
  old._server = null;
  socket.destroy(); // handle-less: closes nothing, counts nothing
  const adopted = new net.Socket({
    handle,
    allowHalfOpen: socket.allowHalfOpen,
    onread: {
      buffer: SCRATCH,
      callback: (n: number) => {
        onBytes(n);
        return true;
      },
    },
  } as net.SocketConstructorOpts);
  (adopted as unknown as SocketInternals)._server = server;
  adopted.resume();
  return adopted;
}
