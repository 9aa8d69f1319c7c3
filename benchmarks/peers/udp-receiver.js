/* global console, process */
/**
 * The plain Node UDP receiver (udp-receive's reference, and udp-send's sink): datagrams counted in
 * 'message' events; on SIGINT or SIGTERM it prints the count and exits.
 * `node benchmarks/peers/udp-receiver.js`
 */
import dgram from 'node:dgram';

const socket = dgram.createSocket('udp4');
let datagrams = 0;
let bytes = 0;
socket.on('message', (msg) => {
  datagrams += 1;
  bytes += msg.length;
});
socket.bind(0, '127.0.0.1', () => console.error(`listening on udp://127.0.0.1:${socket.address().port}`));
const stop = () => {
  console.error(`received ${datagrams} datagrams, ${bytes} bytes`);
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
