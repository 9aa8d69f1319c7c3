/**
 * The CLI entry point: argv → command → exit status. The only place that touches
 * process.exitCode, signals and the process's own streams (bin.ts just calls runProcess).
 *
 * Exit status: 0 success, 1 network or runtime failure, 2 usage error, 130 interrupted (Ctrl-C).
 */
import { fstatSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { describeSystemError, SocklabError, isSocklabError } from '../errors.js';
import { fitHelp, helpWidth } from './help.js';
import { COMMANDS } from './commands/index.js';
import type { Io } from './io.js';
import { version } from './version.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

function globalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const list = Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n');
  return `socklab — TCP and UDP toolkit

Usage: socklab COMMAND [ARGS...] [OPTIONS]

Commands:
${list}

Addresses are [tcp|udp://]HOST:PORT; a bare PORT or :PORT listens (127.0.0.1, or every
interface with ':'); -u makes udp the default scheme.

Examples:
  socklab demo
      see TCP and UDP side by side in seconds
  socklab listen 9000 --lines --reply "Hello, {msg}!"
      a TCP server on 127.0.0.1:9000 answering each line
  socklab connect 127.0.0.1:9000 --lines -W Tracy
      send, wait for the reply, exit
  socklab get http://example.com/ -i
      HTTP by hand over a raw socket
  socklab relay udp://:9000 udp://127.0.0.1:9090 --loss 10% --delay 40ms
      put 10% loss and 40 ms of latency in front of a UDP service
  socklab bench --server 5201   and   socklab bench 127.0.0.1:5201 -t 5
      TCP throughput, as iperf3 (-u for UDP, --pingpong for latency)

Run 'socklab COMMAND --help' for a command's options and examples.

Exit status: 0 ok, 1 network/runtime failure, 2 usage error, 130 Ctrl-C, 143 SIGTERM.
`;
}

/** Runs the CLI with the given argv and streams; returns the exit status. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(fitHelp(globalHelp(), helpWidth(io.stderr)));
    return EXIT_USAGE;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    io.stdout.write(fitHelp(globalHelp(), helpWidth(io.stdout)));
    return EXIT_OK;
  }
  if (name === '-V' || name === '--version') {
    io.stdout.write(`socklab ${version()}\n`);
    return EXIT_OK;
  }
  const entry = COMMANDS[name];
  try {
    if (!entry) {
      throw new SocklabError(
        'SOCKLAB_ERR_USAGE',
        `unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`,
      );
    }
    const command = await entry.load();
    // Everything after `--` is an operand (`connect HOST:PORT -- --help` sends "--help").
    const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
    if (flags.includes('-h') || flags.includes('--help')) {
      io.stdout.write(fitHelp(command.help, helpWidth(io.stdout)));
      return EXIT_OK;
    }
    const options = command.parse(rest);
    return await command.run(options as never, io);
  } catch (err) {
    return report(err, entry ? name : undefined, io);
  }
}

function report(err: unknown, command: string | undefined, io: Io): number {
  const prefix = command ? `socklab ${command}` : 'socklab';
  if (isSocklabError(err)) {
    if (err.isUsage) {
      const help = command ? `socklab ${command} --help` : 'socklab --help';
      io.stderr.write(`${prefix}: ${err.message} (see '${help}')\n`);
      return EXIT_USAGE;
    }
    if (err.code === 'SOCKLAB_ERR_ABORTED' && io.signal.aborted) return EXIT_INTERRUPTED;
    io.stderr.write(`${prefix}: ${err.message}\n`);
    return EXIT_FAILURE;
  }
  // Anything else is a bug in socklab: show everything.
  io.stderr.write(
    `${prefix}: internal error (please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return EXIT_FAILURE;
}

/** The bin itself: real process streams and signals. */
export async function runProcess(): Promise<void> {
  const controller = new AbortController();
  /** The signal that stopped the command: its exit status is 128 + its number, as a shell's. */
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(signalStatus(signal)); // second Ctrl-C: now
    interrupted = signal;
    // The terminal echoed ^C where the cursor was: what comes next (a summary) starts a line.
    if (signal === 'SIGINT' && process.stderr.isTTY) process.stderr.write('\n');
    controller.abort(new SocklabError('SOCKLAB_ERR_ABORTED', `interrupted (${signal})`));
  };
  // A `listen --workers` worker (forked by the primary with SOCKLAB_WORKER set and a channel to
  // it; tested here without loading node:cluster) leaves signals to its primary, which stops it
  // with a message: Ctrl-C in a terminal signals every process of the group, workers too.
  if (process.env.SOCKLAB_WORKER === undefined || process.send === undefined) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  } else {
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
  }
  // A reader that goes away (`socklab get URL | head -1`) ends the command, quietly, with
  // status 0: the reader had all it wanted.
  // Any other failure to write stdout (a full disk) stops the command too, and is exit 1 with
  // one line, after whatever the command still reports (a summary) on stderr.
  let stdoutClosed = false;
  let stdoutFailed: NodeJS.ErrnoException | undefined;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') stdoutClosed = true;
    else stdoutFailed ??= err;
    controller.abort(
      new SocklabError('SOCKLAB_ERR_ABORTED', stdoutClosed ? 'stdout closed' : 'stdout failed'),
    );
  });
  const stdinFile = stdinIsFile() ? 0 : undefined;
  const code = await main(process.argv.slice(2), {
    // process.stdin is made on first use: a command that never reads it never opens it.
    get stdin() {
      return process.stdin;
    },
    ...(stdinFile !== undefined ? { stdinFile } : {}),
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  });
  if (stdoutFailed !== undefined) {
    const command = process.argv[2] ?? '';
    process.stderr.write(
      `socklab${/^[a-z]+$/.test(command) ? ` ${command}` : ''}: cannot write to stdout: ${describeSystemError(stdoutFailed)}\n`,
    );
    process.exitCode = EXIT_FAILURE;
  } else {
    process.exitCode =
      stdoutClosed && !interrupted
        ? EXIT_OK
        : interrupted && (code === EXIT_OK || code === EXIT_INTERRUPTED)
          ? signalStatus(interrupted)
          : code;
  }
  // Everything the command opened is closed by now; if a stray handle still holds the event loop,
  // do not hang on it.
  setTimeout(() => process.exit(), 1000).unref();
}

/** 130 for SIGINT, 143 for SIGTERM: 128 + the signal's number, as shells report it. */
function signalStatus(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 2);
}

function stdinIsFile(): boolean {
  try {
    return fstatSync(0).isFile();
  } catch {
    return false; // no fd 0 (closed): process.stdin copes with that
  }
}
