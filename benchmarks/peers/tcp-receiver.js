/* global console */
/**
 * The plain Node TCP receiver (tcp-receive's reference): one connection, 'data' events counted,
 * the total printed when the client closes. `node benchmarks/peers/tcp-receiver.js`
 */
import net from 'node:net';

const server = net.createServer((socket) => {
  let bytes = 0;
  socket.on('data', (chunk) => {
    bytes += chunk.length;
  });
  socket.on('end', () => {
    console.error(`closed: ${bytes} bytes in`);
    socket.end();
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => console.error(`listening on tcp://127.0.0.1:${server.address().port}`));
