/* global process, console */
/**
 * The plain Node TCP sender (tcp-send's reference): a file piped into a connection, as the docs
 * show it. Exits once the server has closed its side. `node benchmarks/peers/tcp-sender.js FILE PORT`
 */
import { createReadStream } from 'node:fs';
import net from 'node:net';

const [file, port] = process.argv.slice(2);
const socket = net.connect(Number(port), '127.0.0.1');
createReadStream(file).pipe(socket);
socket.resume(); // the server sends nothing; read its end
socket.on('error', (err) => {
  console.error(err.message);
  process.exitCode = 1;
});
