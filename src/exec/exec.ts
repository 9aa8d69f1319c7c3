/**
 * Running a program for a connection (`nc --exec/--sh-exec`, `listen --exec`): its stdin is what
 * the peer sends, its stdout goes back to the peer, its stderr is the server's. One child per TCP
 * connection (per peer for UDP). The peer's and our addresses are in the environment as ncat
 * sets them: NCAT_REMOTE_ADDR, NCAT_REMOTE_PORT, NCAT_LOCAL_ADDR, NCAT_LOCAL_PORT, NCAT_PROTO.
 *
 * Unlike ncat 7.93, a peer's half-close only ends the child's stdin: what the child still writes
 * (an echo's reply) goes out before our side closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { describeSystemError, SocklabError } from '../errors.js';

export interface ExecCommand {
  /** `exec`: split on whitespace with backslash escapes, run directly; `sh`: `/bin/sh -c`. */
  readonly kind: 'exec' | 'sh';
  readonly command: string;
}

export interface ExecEnv {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly proto: 'TCP' | 'UDP';
}

/** ncat's split: whitespace separates words, a backslash takes the next character as it is. */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** `exec` → argv; a usage error for a command with no words. */
export function commandArgv(command: ExecCommand): string[] {
  if (command.kind === 'sh') return ['/bin/sh', '-c', command.command];
  const argv = splitCommandLine(command.command);
  if (argv.length === 0) throw new SocklabError('SOCKLAB_ERR_USAGE', '--exec: the command is empty');
  return argv;
}

function plain(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Start the program; its stderr is ours. A program that cannot start emits 'error' (see runForSocket). */
export function startChild(command: ExecCommand, env: ExecEnv): ChildProcess {
  const [file, ...args] = commandArgv(command);
  return spawn(file!, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: {
      ...process.env,
      NCAT_REMOTE_ADDR: plain(env.remoteAddress),
      NCAT_REMOTE_PORT: String(env.remotePort),
      NCAT_LOCAL_ADDR: plain(env.localAddress),
      NCAT_LOCAL_PORT: String(env.localPort),
      NCAT_PROTO: env.proto,
    },
  });
}

/** The error for a program that could not be started, in one line. */
export function execError(command: ExecCommand, err: unknown): SocklabError {
  const name = command.kind === 'sh' ? '/bin/sh' : (commandArgv(command)[0] ?? command.command);
  return new SocklabError('SOCKLAB_ERR_SOCKET', `cannot run '${name}': ${describeSystemError(err)}`, {
    cause: err,
  });
}

export interface SocketExecOptions {
  /** Applied to what the child writes before it goes to the network (`-C`). */
  readonly transform?: (chunk: Buffer) => Buffer;
}

/**
 * Connect a TCP socket and a program: socket → stdin, stdout → socket, with backpressure both
 * ways. The client's FIN ends the program's stdin; the end of the program's stdout ends our side.
 * Resolves when both are done and the socket is closed; rejects (the socket destroyed) if the
 * program cannot start.
 */
export function runForSocket(
  socket: net.Socket,
  command: ExecCommand,
  env: ExecEnv,
  options: SocketExecOptions = {},
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = startChild(command, env);
    } catch (err) {
      socket.destroy();
      reject(err instanceof SocklabError ? err : execError(command, err));
      return;
    }
    const stdin = child.stdin!;
    const stdout = child.stdout!;
    let failed = false;
    child.once('error', (err) => {
      failed = true;
      socket.destroy();
      reject(execError(command, err));
    });
    stdin.on('error', () => undefined); // the program exited without reading everything
    socket.on('error', () => undefined); // a reset: the close below ends it
    socket.on('data', (chunk: Buffer) => {
      if (!stdin.writable) return;
      if (!stdin.write(chunk)) {
        socket.pause();
        stdin.once('drain', () => socket.resume());
      }
    });
    socket.on('end', () => stdin.end());
    stdout.on('data', (chunk: Buffer) => {
      const out = options.transform ? options.transform(chunk) : chunk;
      if (socket.writable && !socket.write(out)) {
        stdout.pause();
        socket.once('drain', () => stdout.resume());
      }
    });
    stdout.on('end', () => {
      // The program is done writing: our side ends. If the client has not ended its side, the
      // program is gone and nothing would read what it sends: close once our bytes are out.
      if (socket.readableEnded) socket.end();
      else socket.destroySoon();
    });
    socket.once('close', () => {
      if (!stdout.readableEnded) stdout.destroy();
      if (!stdin.writableEnded) stdin.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      if (!failed) resolve();
    });
  });
}
