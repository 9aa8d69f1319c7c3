/**
 * The command table. A command is one file in this folder exporting `help`, `parse(argv)` and
 * `run(options, io)`; it is loaded only when used, so `socklab --version` stays fast.
 * To add one: copy a sibling file and add a line here.
 */
import type { Io } from '../io.js';

export interface CommandModule {
  /** The full `--help` text, with examples. */
  readonly help: string;
  /** argv (after the command name) → typed options; throws SOCKLAB_ERR_USAGE on bad input. */
  parse(argv: readonly string[]): unknown;
  /** Runs to completion and returns the exit status; failures are thrown as SocklabError. */
  run(options: never, io: Io): Promise<number>;
}

export interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<CommandModule>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  listen: { summary: 'run a TCP or UDP server: print, echo, reply, chat', load: () => import('./listen.js') },
  connect: {
    summary: 'run a TCP or UDP client: send, wait for replies, pipe, type',
    load: () => import('./connect.js'),
  },
  get: { summary: 'fetch a URL with HTTP/1.1 written by hand over a socket', load: () => import('./get.js') },
  demo: {
    summary: "run the tutorials' conversations on loopback, narrated",
    load: () => import('./demo.js'),
  },
  relay: { summary: 'a proxy that injects faults: delay, loss, stall…', load: () => import('./relay.js') },
  compare: {
    summary: 'the same messages over TCP and UDP through the same faults, a verdict each',
    load: () => import('./compare.js'),
  },
  link: {
    summary: 'run a command behind an emulated link: delay, loss, rate per IP packet',
    load: () => import('./link.js'),
  },
  nc: { summary: "ncat's command line: connect, listen, -k, --exec, --chat", load: () => import('./nc.js') },
  bench: { summary: 'measure throughput and latency (iperf3 + sockperf)', load: () => import('./bench.js') },
};
