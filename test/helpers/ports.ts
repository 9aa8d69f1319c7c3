/**
 * Ports that were free a moment ago, for the few places a port number must be chosen before the
 * program that uses it starts (peers that cannot report port 0, "nobody listens here" checks).
 * Racy by nature: another process may take the port in between.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';

/** A port that was free on 127.0.0.1 when we asked (see the note above: it may be taken since). */
export async function freePort(transport: 'tcp' | 'udp'): Promise<number> {
  if (transport === 'tcp') {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    server.close();
    await once(server, 'close');
    return port;
  }
  const socket = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  socket.close();
  await once(socket, 'close');
  return port;
}

/** A port nobody listens on, for `transport` (default TCP): taken and released at once. */
export function closedPort(transport: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  return freePort(transport);
}
