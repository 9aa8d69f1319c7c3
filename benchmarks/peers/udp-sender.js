/* global console, process, performance, Buffer */
/**
 * The plain Node UDP sender (udp-send's reference): datagrams sent as fast as possible for a
 * time, at most WINDOW of them handed to libuv and not yet sent; prints the count as JSON.
 * `node benchmarks/peers/udp-sender.js PORT SECONDS LENGTH WINDOW`
 */
import dgram from 'node:dgram';

const [port, seconds, length, window] = process.argv.slice(2).map(Number);
const socket = dgram.createSocket('udp4');
const payload = Buffer.alloc(length, 0x61);
let sent = 0;
let inFlight = 0;
const start = performance.now();
const end = start + seconds * 1000;

// The clock is read in the callback, not left to a timer: Node may call back a send that
// completed at once before the event loop turns, and a timer would then never get to run.
const onSent = (err) => {
  inFlight -= 1;
  if (!err) sent += 1;
  if (performance.now() < end) send();
  else if (inFlight === 0) finish();
};
function send() {
  inFlight += 1;
  socket.send(payload, onSent);
}
function finish() {
  const s = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ sent, seconds: s, perSecond: sent / s }));
  socket.close();
}

socket.connect(port, '127.0.0.1', () => {
  for (let i = 0; i < window; i++) send();
});
