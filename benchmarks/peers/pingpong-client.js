/* global console, process, setTimeout, performance, Buffer */
/**
 * The plain Node ping-pong client (pingpong-client's reference): one message of LENGTH bytes in
 * flight, the next sent when the whole reply is back, for SECONDS; prints round trips/s and the
 * p50/p99 round-trip time as JSON.
 *
 * Each message carries sockperf's 14-byte header (sequence number, flags "client ping", length),
 * so sockperf's own server ('sockperf sr') answers it as well as any echo server does: the same
 * client can then tell how much of a difference comes from the server.
 * `node benchmarks/peers/pingpong-client.js tcp|udp PORT SECONDS [LENGTH]`
 */
import dgram from 'node:dgram';
import net from 'node:net';

const [transport, port, seconds, length = 64] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const message = Buffer.alloc(length, 0x78);
message.writeUInt16BE(3, 8); // sockperf flags: client | ping
message.writeUInt32BE(length, 10); // sockperf: message length
const rtts = [];
let sequence = 0;
let sentAt = 0;
let running = true;
let finished = false;

let write;
const ping = () => {
  message.writeBigUInt64BE(BigInt(++sequence), 0);
  sentAt = performance.now();
  write(message);
};
const pong = () => {
  if (finished) return;
  rtts.push(performance.now() - sentAt);
  if (running) ping();
  else finish();
};

let socket;
if (transport === 'tcp') {
  socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let received = 0;
  socket.on('data', (chunk) => {
    received += chunk.length;
    while (received >= length) {
      received -= length;
      pong();
    }
  });
  write = (m) => socket.write(m);
  socket.on('connect', begin);
} else {
  socket = dgram.createSocket('udp4');
  socket.on('message', pong);
  write = (m) => socket.send(m);
  socket.connect(port, '127.0.0.1', begin);
}

const start = performance.now();
function begin() {
  setTimeout(() => {
    running = false;
  }, seconds * 1000);
  ping();
}

function finish() {
  finished = true;
  const s = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(rtts).sort();
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 1000;
  console.log(
    JSON.stringify({
      roundTrips: rtts.length,
      seconds: s,
      perSecond: rtts.length / s,
      p50_us: pct(50),
      p99_us: pct(99),
    }),
  );
  if (transport === 'tcp') socket.destroy();
  else socket.close();
}
