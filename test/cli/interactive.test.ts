/**
 * `socklab connect` at a real terminal: the client runs in a tmux pane, servers are real sockets on
 * 127.0.0.1 with ports from the OS. What is asserted is what a person would see on the screen, and
 * what the server really received.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { REPO_ROOT, runCli, startCli, type RunningCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/ports.js';
import { shellQuote, socklabCommand, startTerminal, tmuxMissing, type Terminal } from '../helpers/tmux.js';

const options = { skip: tmuxMissing ?? false, timeout: 30_000 };

/** A socklab server for the test, stopped (by PID) when the test ends. */
async function server(t: TestContext, args: readonly string[]): Promise<RunningCli & { port: number }> {
  const s = await startCli(args);
  t.after(() => s.stop());
  const port = s.ports[0];
  assert.ok(port !== undefined && port > 0, `no port in: ${s.stderr()}`);
  return Object.assign(s, { port });
}

/** The `message` events a `listen --json` server printed, in order. */
function messages(s: RunningCli): { text?: string; bytes: number; peer: string }[] {
  return s
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { event: string; text?: string; bytes: number; peer: string })
    .filter((e) => e.event === 'message');
}

/** A tmux pane running `socklab connect ARGS`, with the prompt shown. */
async function connect(
  t: TestContext,
  args: readonly string[],
  prompt: string,
  redirect = '',
): Promise<Terminal> {
  const term = await startTerminal(t);
  await term.run(socklabCommand(['connect', ...args], redirect));
  await term.waitForScreen(prompt);
  return term;
}

/** The screen's rows after the command line typed into the shell (the first row). */
function rowsAfterCommand(screen: string): string[] {
  const rows = screen.split('\n');
  const at = rows.findIndex((r) => r.includes('EXIT=$?'));
  return rows.slice(at + 1);
}

type Row = string | RegExp;

/**
 * Wait until the rows under the command line are exactly `expected`. Waiting for the whole screen,
 * not one line of it, matters: a reply and the prompt redrawn under it are two writes, and a
 * capture can fall between them.
 */
async function expectRows(term: Terminal, expected: readonly Row[], timeoutMs?: number): Promise<string[]> {
  let rows: string[] = [];
  const same = (row: string | undefined, want: Row) =>
    row !== undefined && (typeof want === 'string' ? row === want : want.test(row));
  try {
    await term.waitForScreen((screen) => {
      rows = rowsAfterCommand(screen);
      return rows.length === expected.length && expected.every((w, i) => same(rows[i], w));
    }, timeoutMs);
  } catch (err) {
    const want = expected.map(String).join('\n');
    throw new Error(`expected these rows under the command line:\n${want}\n${(err as Error).message}`);
  }
  return rows;
}

/** A TCP server written for one test (behaviour socklab's own server does not have). */
async function rawServer(t: TestContext, onConnection: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined); // resets are the point of some tests
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  srv.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    srv.once('listening', resolve);
    srv.once('error', reject);
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  );
  const address = srv.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

test(
  'seed 004: "Olá, servidor!" typed at the prompt, the answer shown, UTF-8 intact both ways',
  options,
  async (t) => {
    const srv = await server(t, [
      'listen',
      '0',
      '--lines',
      '--json',
      '--reply',
      'Resposta do servidor: {msg}',
    ]);
    const prompt = `tcp://127.0.0.1:${srv.port}>`;
    const term = await connect(t, [`127.0.0.1:${srv.port}`], prompt);
    await term.type('Olá, servidor!');
    await term.keys('Enter');
    await expectRows(term, [`${prompt} Olá, servidor!`, 'Resposta do servidor: Olá, servidor!', prompt]);
    // The server got exactly the UTF-8 bytes typed, as one line (the newline typed ends it).
    await srv.waitFor('"event":"message"');
    assert.deepEqual(
      messages(srv).map((m) => [m.text, m.bytes]),
      [['Olá, servidor!', Buffer.byteLength('Olá, servidor!')]],
    );
    await term.keys('C-d');
    assert.equal(await term.waitForExit(), 0);
  },
);

test(
  'a message arriving while a line is half typed shows above it; the line stays and is sent intact',
  options,
  async (t) => {
    const srv = await server(t, ['listen', '0', '--lines', '--chat', '--json']);
    const prompt = `tcp://127.0.0.1:${srv.port}>`;
    const term = await connect(t, [`127.0.0.1:${srv.port}`], prompt);
    await term.type('partial');
    await term.waitForScreen(`${prompt} partial`);
    // Someone else in the chat speaks while our line is unfinished.
    const other = await runCli(['connect', `127.0.0.1:${srv.port}`, 'hello from B'], { timeoutMs: 10_000 });
    assert.equal(other.code, 0, other.stderr);
    await expectRows(term, [/^\[127\.0\.0\.1:\d+\] hello from B$/, `${prompt} partial`]);
    await term.keys('Enter');
    await srv.waitFor('"text":"partial"');
    assert.equal(messages(srv).at(-1)?.text, 'partial');
    await term.keys('C-d');
    assert.equal(await term.waitForExit(), 0);
  },
);

// readline keeps track of the rows of a wrapped line only when keys come one by one; a paste
// arrives in one chunk and leaves its count behind. Both must survive a message arriving.
for (const how of ['pasted', 'typed key by key'] as const) {
  test(`a line ${how}, longer than the terminal is wide, survives a message arriving`, options, async (t) => {
    const srv = await server(t, ['listen', '0', '--lines', '--chat', '--json']);
    const prompt = `tcp://127.0.0.1:${srv.port}>`;
    const term = await connect(t, [`127.0.0.1:${srv.port}`], prompt);
    const long = 'long ' + '0123456789'.repeat(15); // with the prompt: two rows of a 120-column pane
    if (how === 'pasted') await term.type(long);
    else for (const key of long) await term.type(key);
    await term.waitForScreen(long.slice(-20));
    const other = await runCli(['connect', `127.0.0.1:${srv.port}`, 'hello from B'], { timeoutMs: 10_000 });
    assert.equal(other.code, 0, other.stderr);
    // One row for the message, then the typed line on its two rows, nothing doubled or lost.
    const typed = `${prompt} ${long}`;
    await expectRows(term, [/^\[127\.0\.0\.1:\d+\] hello from B$/, typed.slice(0, 120), typed.slice(120)]);
    await term.keys('Enter');
    await srv.waitFor('"text":"long ');
    assert.equal(messages(srv).at(-1)?.text, long);
    await term.keys('C-d');
    assert.equal(await term.waitForExit(), 0);
  });
}

test('history: Up recalls the last line, Enter sends it again', options, async (t) => {
  const srv = await server(t, ['listen', '0', '--lines', '--json', '--reply', 'got {msg}']);
  const prompt = `tcp://127.0.0.1:${srv.port}>`;
  const term = await connect(t, [`127.0.0.1:${srv.port}`], prompt);
  await term.type('again');
  await term.keys('Enter');
  await expectRows(term, [`${prompt} again`, 'got again', prompt]);
  await term.keys('Up');
  await expectRows(term, [`${prompt} again`, 'got again', `${prompt} again`]);
  await term.keys('Enter');
  await expectRows(term, [`${prompt} again`, 'got again', `${prompt} again`, 'got again', prompt]);
  await srv.waitFor(/("text":"again"[^]*){2}/);
  assert.deepEqual(
    messages(srv).map((m) => m.text),
    ['again', 'again'],
  );
  await term.keys('C-d');
  assert.equal(await term.waitForExit(), 0);
});

test(
  'Ctrl-D leaves with exit 0 even if the server never closes, showing what it still sends',
  options,
  async (t) => {
    // After our FIN this server says one more thing and then keeps its side open for ever.
    const port = await rawServer(t, (socket) => {
      socket.on('data', () => undefined);
      socket.on('end', () => socket.write('still here\n'));
    });
    const prompt = `tcp://127.0.0.1:${port}>`;
    const term = await connect(t, [`127.0.0.1:${port}`], prompt);
    const start = Date.now();
    await term.keys('C-d');
    await term.waitForScreen('still here');
    assert.equal(await term.waitForExit(10_000), 0);
    const elapsed = Date.now() - start;
    // It waited for the server (2 s of silence by default) before giving up; an upper bound is the
    // waitForExit deadline.
    assert.ok(elapsed >= 1900, `left after ${elapsed} ms`);
    await expectRows(term, [prompt, 'still here', 'EXIT=0', '$']);
  },
);

test('Ctrl-C leaves with exit 130; the half-typed line is not sent', options, async (t) => {
  const srv = await server(t, ['listen', '0', '--json']);
  const prompt = `tcp://127.0.0.1:${srv.port}>`;
  const term = await connect(t, [`127.0.0.1:${srv.port}`], prompt);
  await term.type('abc');
  await term.waitForScreen(`${prompt} abc`);
  await term.keys('C-c');
  assert.equal(await term.waitForExit(), 130);
  await expectRows(term, [`${prompt} abc^C`, 'EXIT=130', '$']);
  await srv.waitFor('"event":"close"');
  assert.deepEqual(messages(srv), []);
});

test('the server closing ends the session with a clear line and exit 0', options, async (t) => {
  const srv = await server(t, ['listen', '0', '--exit-word', 'bye', '--reply', 'ok {msg}']);
  const prompt = `tcp://127.0.0.1:${srv.port}>`;
  const term = await connect(t, [`127.0.0.1:${srv.port}`], prompt);
  await term.type('hi');
  await term.keys('Enter');
  await expectRows(term, [`${prompt} hi`, 'ok hi', prompt]);
  await term.type('bye');
  await term.keys('Enter');
  assert.equal(await term.waitForExit(), 0);
  await expectRows(term, [
    `${prompt} hi`,
    'ok hi',
    `${prompt} bye`,
    'connection closed by the server',
    'EXIT=0',
    '$',
  ]);
});

test('a connection reset by the server is one line of error and exit 1', options, async (t) => {
  const port = await rawServer(t, (socket) => {
    socket.once('data', () => socket.resetAndDestroy());
  });
  const prompt = `tcp://127.0.0.1:${port}>`;
  const term = await connect(t, [`127.0.0.1:${port}`], prompt);
  await term.type('boom');
  await term.keys('Enter');
  assert.equal(await term.waitForExit(), 1);
  await expectRows(term, [
    `${prompt} boom`,
    `socklab connect: connection to tcp://127.0.0.1:${port} was reset by the server (ECONNRESET)`,
    'EXIT=1',
    '$',
  ]);
});

test('UDP: "Tracy" typed, "Hello, Tracy!" shown; Ctrl-D leaves with exit 0', options, async (t) => {
  const srv = await server(t, ['listen', '-u', '0', '--reply', 'Hello, {msg}!']);
  const prompt = `udp://127.0.0.1:${srv.port}>`;
  const term = await connect(t, ['-u', `127.0.0.1:${srv.port}`], prompt);
  await term.type('Tracy');
  await term.keys('Enter');
  await expectRows(term, [`${prompt} Tracy`, 'Hello, Tracy!', prompt]);
  await term.keys('C-d');
  assert.equal(await term.waitForExit(), 0);
});

test(
  'escape sequences from the server show as marks: the screen is not cleared, the title not changed',
  options,
  async (t) => {
    // ESC [2J clears the screen, ESC ]0;…BEL retitles the window: both must stay inert.
    const srv = await server(t, ['listen', '0', '--welcome', '\\x1b[2J\\x1b]0;pwned\\x07hi']);
    const prompt = `tcp://127.0.0.1:${srv.port}>`;
    const term = await connect(t, [`127.0.0.1:${srv.port}`], prompt);
    await expectRows(term, ['·[2J·]0;pwned·hi', prompt]);
    const rows = (await term.capture()).split('\n');
    assert.match(rows[0] ?? '', /'connect'.*EXIT=\$\?$/, 'the command line is still on screen');
    assert.notEqual(await term.paneTitle(), 'pwned');
    await term.keys('C-d');
    assert.equal(await term.waitForExit(), 0);
  },
);

test(
  'stdout redirected to a file: the prompt goes to the terminal, the file gets only the bytes received',
  options,
  async (t) => {
    const srv = await server(t, ['listen', '0', '--reply', 'Hello, {msg}!']);
    const dir = await mkdtemp(join(tmpdir(), 'socklab-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'reply.txt');
    const prompt = `tcp://127.0.0.1:${srv.port}>`;
    const term = await connect(
      t,
      [`127.0.0.1:${srv.port}`, '--eol', 'none'],
      prompt,
      `> ${shellQuote(file)}`,
    );
    await term.type('Tracy');
    await term.keys('Enter');
    await srv.waitFor('Tracy');
    await term.keys('C-d');
    assert.equal(await term.waitForExit(), 0);
    assert.equal(await readFile(file, 'utf8'), 'Hello, Tracy!');
  },
);

test('Ctrl-C while waiting for the server after Ctrl-D stops at once with 130', options, async (t) => {
  let finReceived: () => void = () => undefined;
  const fin = new Promise<void>((resolve) => (finReceived = resolve));
  // This server never closes its side; it only tells the test when our FIN has come.
  const port = await rawServer(t, (socket) => {
    socket.on('data', () => undefined);
    socket.on('end', () => finReceived());
  });
  const prompt = `tcp://127.0.0.1:${port}>`;
  const term = await connect(t, [`127.0.0.1:${port}`, '--idle-timeout', '60s'], prompt);
  await term.keys('C-d');
  await fin;
  await term.keys('C-c');
  assert.equal(await term.waitForExit(5_000), 130);
});

test('UDP with no server: one line of error in place of the prompt, exit 1', options, async (t) => {
  // A UDP port the OS just gave out and took back: nobody listens there.
  const port = await closedPort('udp');
  const prompt = `udp://127.0.0.1:${port}>`;
  const term = await connect(t, ['-u', `127.0.0.1:${port}`], prompt);
  await term.type('anyone?');
  await term.keys('Enter');
  assert.equal(await term.waitForExit(), 1);
  await expectRows(term, [
    `${prompt} anyone?`,
    `socklab connect: no server at udp://127.0.0.1:${port}: port unreachable (ECONNREFUSED)`,
    'EXIT=1',
    '$',
  ]);
});

test(
  'stdout and stderr both redirected: no prompt anywhere, lines read as the terminal echoes them',
  options,
  async (t) => {
    const srv = await server(t, ['listen', '0', '--reply', 'Hello, {msg}!']);
    const dir = await mkdtemp(join(tmpdir(), 'socklab-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'out.txt');
    const err = join(dir, 'err.txt');
    const term = await startTerminal(t);
    await term.run(
      socklabCommand(
        ['connect', `127.0.0.1:${srv.port}`, '--eol', 'none'],
        `> ${shellQuote(out)} 2> ${shellQuote(err)}`,
      ),
    );
    await term.type('Tracy');
    await term.keys('Enter');
    await srv.waitFor('Tracy');
    await term.keys('C-d'); // the terminal's own end of input, at the start of a line
    assert.equal(await term.waitForExit(), 0);
    await expectRows(term, ['Tracy', 'EXIT=0', '$']);
    assert.equal(await readFile(out, 'utf8'), 'Hello, Tracy!');
    assert.equal(await readFile(err, 'utf8'), '');
  },
);

for (const transport of ['tcp', 'udp'] as const) {
  const client = join(REPO_ROOT, `test/fixtures/seeds/seed004_${transport}_client.py`);
  test(
    `the seed 004 Python ${transport.toUpperCase()} client, typed into at a terminal, talks to socklab listen`,
    options,
    async (t) => {
      if (!existsSync(client)) {
        t.skip(`${client} does not exist yet`);
        return;
      }
      const srv = await server(t, [
        'listen',
        ...(transport === 'udp' ? ['-u'] : []),
        '0',
        '--json',
        '--reply',
        'Resposta do servidor: {msg}',
      ]);
      const term = await startTerminal(t);
      await term.run(`python3 -u ${shellQuote(client)} ${srv.port} 127.0.0.1; echo EXIT=$?`);
      await term.waitForScreen('Digite uma mensagem:');
      await term.type('Olá, servidor!');
      await term.keys('Enter');
      // The README's transcript, line for line.
      await expectRows(term, [
        'Digite uma mensagem: Olá, servidor!',
        'Mensagem enviada para o servidor: Olá, servidor!',
        'Resposta do servidor: Resposta do servidor: Olá, servidor!',
        'Digite uma mensagem:',
      ]);
      await srv.waitFor('"event":"message"');
      assert.deepEqual(
        messages(srv).map((m) => [m.text, m.bytes]),
        [['Olá, servidor!', Buffer.byteLength('Olá, servidor!')]],
      );
      await term.keys('C-d');
      assert.equal(await term.waitForExit(), 0);
    },
  );
}
