/* global console */
/**
 * The plain Node echo server (echo-server's and connections-10k's reference): net.createServer
 * with the default backlog, each 'data' chunk written back. `node benchmarks/peers/echo-server.js`
 */
import net from 'node:net';

const server = net.createServer((socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
});
server.listen(0, '127.0.0.1', () => console.error(`listening on tcp://127.0.0.1:${server.address().port}`));
