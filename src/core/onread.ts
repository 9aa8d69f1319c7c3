/**
 * Reading a TCP socket through Node's `onread` option: Node reads into a buffer the caller
 * provides (one reused buffer, or one handed out per read by a function) and calls back with the
 * number of bytes, instead of allocating a fresh 64 KiB Buffer per read and emitting 'data'.
 *
 * Node gives `onread` only to sockets built with it (`net.connect`, `new net.Socket`). An accepted
 * socket is therefore re-built around its handle before it has read anything (the server must be
 * created with `pauseOnConnect: true`), and the server's connection count moves to the new
 * socket. This touches two of Node's internal fields (`_handle`, `_server`, stable since Node 12);
 * where they are not as expected, `adoptWithOnRead` returns undefined and the caller reads the
 * ordinary way: only the speed differs.
 */
import net from 'node:net';

interface SocketInternals {
  _handle: object | null;
  _server: net.Server | null;
}

/**
 * The socket to use from now on instead of `socket` (accepted, paused since accept, nothing read),
 * reading through `onread` once resumed. Its 'end', 'close', 'error', timeouts, writes and `end()`
 * work as usual; it emits no 'data'. Undefined where Node's internals do not allow it.
 */
export function adoptWithOnRead(
  socket: net.Socket,
  onread: net.OnReadOpts,
  writableHighWaterMark?: number,
): net.Socket | undefined {
  const old = socket as unknown as SocketInternals;
  const handle = old._handle;
  if (handle === null || typeof handle !== 'object' || !('readStart' in handle) || socket.bytesRead > 0) {
    return undefined;
  }
  const server = old._server;
  old._handle = null;
  old._server = null;
  socket.destroy(); // handle-less: closes nothing, counts nothing
  const adopted = new net.Socket({
    handle,
    allowHalfOpen: socket.allowHalfOpen,
    onread,
    ...(writableHighWaterMark !== undefined && { writableHighWaterMark }),
  } as net.SocketConstructorOpts);
  (adopted as unknown as SocketInternals)._server = server;
  // A socket built around a handle starts reading at once; the caller resumes it when ready.
  adopted.pause();
  return adopted;
}
