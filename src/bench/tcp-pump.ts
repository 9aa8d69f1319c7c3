/**
 * Writing one buffer over and over into a TCP socket until told to stop, respecting backpressure
 * (wait for 'drain' when write() says the buffer is full). The same buffer is reused: write()
 * never modifies it, so there is no allocation per write.
 */
import type { Socket } from 'node:net';
import type { IntervalCounter } from '../measure/interval-counter.js';

export async function pumpTcp(socket: Socket, chunk: Buffer, counter: IntervalCounter, stop: AbortSignal) {
  let wake: (() => void) | undefined;
  const onWake = () => wake?.();
  socket.on('drain', onWake);
  socket.on('close', onWake);
  stop.addEventListener('abort', onWake);
  try {
    while (!stop.aborted && !socket.destroyed && socket.writable) {
      const more = socket.write(chunk);
      counter.add(chunk.length);
      if (!more) await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    socket.off('drain', onWake);
    socket.off('close', onWake);
    stop.removeEventListener('abort', onWake);
  }
}
