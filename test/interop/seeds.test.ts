/**
 * Interoperability with the seeds' own Python programs (test/fixtures/seeds/*.py), both ways:
 * a seed client against a socklab server, and a socklab client against a seed server. Real
 * sockets on 127.0.0.1, every port from the OS, every wait bounded, every process stopped by PID.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, startCli } from '../helpers/cli.js';
import { pythonRandoms, runPythonClient, startPythonClient, startPythonServer } from '../helpers/python.js';

/** `socklab listen` lines with -v that say a TCP client has gone, and whether on an error. */
const closedLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('closed '));

/** UDP clients here wait only this long for more datagrams after the last reply (default 1 s). */
const UDP_IDLE = ['--idle-timeout', '200ms'];

// ---------------------------------------------------------------------------------------------
// Seed 000: print servers, fire-and-forget clients.

test('seed 000: its TCP client sends "Hello, TCP Server!" to socklab listen, which prints it', async (t) => {
  const server = await startCli(['listen', '0', '-v']);
  t.after(() => server.stop());
  const client = await runPythonClient('seed000_tcp_client.py', server.ports[0]!);
  assert.equal(client.code, 0, client.stderr);
  assert.equal(client.stdout, 'Sending: Hello, TCP Server!\n');
  // Wait for the connection's end so the output is complete, then check it byte for byte.
  await server.waitFor(/^closed .*: 18 bytes in, 0 out$/m, 'stderr');
  assert.equal(server.stdout(), 'Hello, TCP Server!');
});

test('seed 000: its UDP client sends "Hello, UDP Server!" to socklab listen -u, which prints it', async (t) => {
  const server = await startCli(['listen', '-u', '0']);
  t.after(() => server.stop());
  const client = await runPythonClient('seed000_udp_client.py', server.ports[0]!);
  assert.equal(client.code, 0, client.stderr);
  assert.equal(client.stdout, 'Sending: Hello, UDP Server!\n');
  await server.waitFor('Hello, UDP Server!');
  assert.equal(server.stdout(), 'Hello, UDP Server!');
});

test('seed 000: socklab connect sends to its TCP server, which prints "Received: …"', async (t) => {
  const server = await startPythonServer('seed000_tcp_server.py');
  t.after(() => server.stop());
  const result = await runCli(['connect', `127.0.0.1:${server.port}`, 'Hello, TCP Server!']);
  // The client half-closes after its message; the seed server reads to EOF and closes: exit 0.
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, '');
  await server.waitFor(/Received: Hello, TCP Server!\nWaiting for a connection\.\.\.\n/);
  assert.equal(server.stdout().match(/^Received:/gm)?.length, 1);
});

test('seed 000: socklab connect -u sends to its UDP server, which prints it and the sender', async (t) => {
  const server = await startPythonServer('seed000_udp_server.py');
  t.after(() => server.stop());
  const result = await runCli([
    'connect',
    '-u',
    `127.0.0.1:${server.port}`,
    'Hello, UDP Server!',
    ...UDP_IDLE,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, ''); // the seed's UDP server never answers
  await server.waitFor(/^Received: Hello, UDP Server! from \('127\.0\.0\.1', \d+\)$/m);
});

// ---------------------------------------------------------------------------------------------
// Seeds 001 and 002: one question, one answer.

test('seed 001: its TCP client against socklab listen --reply --once, which exits 0 after it', async (t) => {
  const server = await startCli(['listen', '0', '--reply', 'Hello from server!', '--once']);
  t.after(() => server.stop());
  const client = await runPythonClient('seed001_tcp_client.py', server.ports[0]!);
  assert.equal(client.code, 0, client.stderr);
  assert.equal(client.stdout, 'Received from server: Hello from server!\n');
  const done = await server.exited(10_000);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stdout, 'Hello from client!');
});

test('seed 001: its UDP client against socklab listen -u --reply', async (t) => {
  const server = await startCli(['listen', '-u', '0', '--reply', 'Hello from UDP server!']);
  t.after(() => server.stop());
  const client = await runPythonClient('seed001_udp_client.py', server.ports[0]!);
  assert.equal(client.code, 0, client.stderr);
  assert.equal(client.stdout, 'Received from server: Hello from UDP server!\n');
  await server.waitFor('Hello from UDP client!');
  assert.equal(server.stdout(), 'Hello from UDP client!');
});

test('seed 001: socklab connect -W against its TCP server prints its reply', async (t) => {
  const server = await startPythonServer('seed001_tcp_server.py');
  t.after(() => server.stop());
  const result = await runCli(['connect', '-W', `127.0.0.1:${server.port}`, 'Hello from client!']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'Hello from server!\n');
  const done = await server.exited(10_000); // the seed serves one client, then exits
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^Received from client: Hello from client!$/m);
});

test('seed 001: socklab connect -u -W against its UDP server prints its reply', async (t) => {
  const server = await startPythonServer('seed001_udp_server.py');
  t.after(() => server.stop());
  const result = await runCli([
    'connect',
    '-u',
    '-W',
    `127.0.0.1:${server.port}`,
    'Hello from UDP client!',
    ...UDP_IDLE,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'Hello from UDP server!\n');
  const done = await server.exited(10_000);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^Received from client \('127\.0\.0\.1', \d+\): Hello from UDP client!$/m);
});

// The seed reads 1024 bytes, answers and closes with the rest unread, so its kernel resets the
// connection. socklab reports the reset (exit 1), as ncat does. The answer itself reaches
// socklab's kernel before the RST (ncat prints it), but Node destroys the socket on the failed
// write before reading it — a plain node:net client loses it the same way — so that part stays a
// todo: it shows in every run until Node (or a reader that drains before writing) allows it.
// On a loaded machine (8 runs at once) about one run in four ends otherwise: socklab prints the
// answer and exits 0, having handed all it had to its kernel before any reset came back. That
// is a race in TCP, not in socklab; the test accepts it, with the answer shown.
test('seed 001: piping 1 MB into socklab connect against its TCP server reports the reset, exit 1', async (t) => {
  const server = await startPythonServer('seed001_tcp_server.py');
  t.after(() => server.stop());
  const result = await runCli(['connect', `127.0.0.1:${server.port}`], {
    input: Buffer.alloc(1_000_000, 'x'),
  });
  if (result.code === 0) {
    assert.equal(result.stdout, 'Hello from server!', 'the clean-close race (see above): the answer, shown');
    return;
  }
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^socklab connect: connection to tcp:\/\/127\.0\.0\.1:\d+ was reset by the server \((ECONNRESET|EPIPE)\)(: \d+ bytes read from stdin not sent, and the rest of stdin not read)?\n$/,
  );
});

test(
  'seed 001: piping 1 MB into socklab connect against its TCP server also shows the answer',
  { todo: 'Node destroys the socket on the failed write before reading the answer: see the comment above' },
  async (t) => {
    const server = await startPythonServer('seed001_tcp_server.py');
    t.after(() => server.stop());
    const result = await runCli(['connect', `127.0.0.1:${server.port}`], {
      input: Buffer.alloc(1_000_000, 'x'),
    });
    assert.equal(result.stdout, 'Hello from server!');
  },
);

test('seed 002: socklab connect -W against its TCP server gets "thank you !"', async (t) => {
  const server = await startPythonServer('seed002_tcp_server.py');
  t.after(() => server.stop());
  const result = await runCli(['connect', '-W', `127.0.0.1:${server.port}`, 'Hello, seed 002!']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'thank you !\n');
  const done = await server.exited(10_000);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^The received data is: Hello, seed 002!$/m);
});

test('seed 002: socklab connect (no -W) against its TCP server prints the answer until it closes', async (t) => {
  const server = await startPythonServer('seed002_tcp_server.py');
  t.after(() => server.stop());
  const result = await runCli(['connect', `127.0.0.1:${server.port}`, 'Hello, seed 002!']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'thank you !'); // a stream, shown as it came: no newline added
  const done = await server.exited(10_000);
  assert.equal(done.code, 0, done.stderr);
});

// ---------------------------------------------------------------------------------------------
// Seed 003: a greeting, many questions per connection, many clients at once, an exit word.

test('seed 003: ten of its TCP clients at once, 20 messages each, against socklab listen', async (t) => {
  const server = await startCli([
    'listen',
    '0',
    '-v',
    '--welcome',
    'Welcome!',
    '--reply',
    'Hello, {msg}!',
    '--exit-word',
    'exit',
  ]);
  t.after(() => server.stop());
  const port = server.ports[0]!;
  const seeds = Array.from({ length: 10 }, (_, i) => i + 1);
  // Each client seeds Python's random with its own number: its messages are known in advance.
  const expected = await Promise.all(seeds.map((seed) => pythonRandoms(seed, 20)));
  const clients = seeds.map((seed) =>
    startPythonClient('seed003_tcp_client.py', port, { env: { SEED003_RANDOM_SEED: String(seed) } }),
  );
  for (const c of clients) t.after(() => c.stop());
  const results = await Promise.all(clients.map((c) => c.exited(30_000)));
  results.forEach((result, i) => {
    assert.equal(result.code, 0, `client ${i + 1}: ${result.stderr}`);
    // recv(1024) once per message: exact lines only because socklab answers each message with
    // one write (TCP_NODELAY) and the client waits for each answer before sending again.
    const lines = ['Welcome!', ...expected[i]!.map((r) => `Hello, ${r}!`)];
    assert.equal(result.stdout, lines.join('\n') + '\n', `client ${i + 1}`);
  });
  // Every connection was closed by the exit word, none on an error: 21 messages in, 20 answers out.
  await server.waitFor(/(^closed .*\n[^]*){10}/m, 'stderr');
  const closed = closedLines(server.stderr());
  assert.equal(closed.length, 10);
  for (const line of closed) assert.match(line, /: \d+ bytes in, \d+ out$/);
  // The server is still up and serves the next client as the first.
  assert.equal(server.child.exitCode, null);
  const after = await runCli(['connect', '-W', `127.0.0.1:${port}`, 'Sarah', 'exit']);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.stdout, 'Welcome!\nHello, Sarah!\n');
});

test('seed 003: its UDP client against socklab listen -u --reply "Hello, {msg}!"', async (t) => {
  const server = await startCli(['listen', '-u', '0', '--reply', 'Hello, {msg}!']);
  t.after(() => server.stop());
  const client = await runPythonClient('seed003_udp_client.py', server.ports[0]!);
  assert.equal(client.code, 0, client.stderr);
  assert.equal(client.stdout, 'Hello, Michael!\nHello, Tracy!\nHello, Sarah!\n');
});

test('seed 003: socklab connect --wait-reply against its threaded TCP server (1 s per reply)', async (t) => {
  // The seed's own 1 s sleep before each reply is kept: the replies come late, the greeting early.
  const server = await startPythonServer('seed003_tcp_server.py');
  t.after(() => server.stop());
  const result = await runCli(
    // --greeting-wait: the seed greets from a new thread on accept; on a loaded machine that can
    // take longer than the 250 ms default, and a late greeting would be taken for the first reply.
    [
      'connect',
      '--wait-reply',
      '--greeting-wait',
      '2s',
      `127.0.0.1:${server.port}`,
      'Michael',
      'Tracy',
      'Sarah',
      'exit',
    ],
    { timeoutMs: 20_000 },
  );
  assert.equal(result.code, 0, result.stderr);
  // "exit" gets no reply: the seed closes the connection, which ends the wait normally.
  assert.equal(result.stdout, 'Welcome!\nHello, Michael!\nHello, Tracy!\nHello, Sarah!\n');
  await server.waitFor(/^Connection from 127\.0\.0\.1:\d+ closed\.$/m);
});

test('seed 003: socklab connect -u --wait-reply against its UDP server', async (t) => {
  const server = await startPythonServer('seed003_udp_server.py');
  t.after(() => server.stop());
  const result = await runCli([
    'connect',
    '-u',
    '-W',
    `127.0.0.1:${server.port}`,
    'Michael',
    'Tracy',
    'Sarah',
    ...UDP_IDLE,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'Hello, Michael!\nHello, Tracy!\nHello, Sarah!\n');
  await server.waitFor(/(^Received from 127\.0\.0\.1:\d+\.\n){3}/m);
  assert.match(server.stdout(), /^Bind UDP on \d+$/m);
});
