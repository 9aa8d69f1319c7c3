/**
 * What people who know netcat type by reflex, and what socklab expects instead: one line that
 * says it ("did you mean 127.0.0.1:9000?"), rather than a bare "unknown option". (`socklab nc`
 * takes ncat's own command line.)
 */
import { usageError } from './args.js';

const LISTEN_FLAGS: Readonly<Record<string, string>> = {
  '-l': 'socklab listen needs no -l: write the address, e.g. socklab listen 9000 (or :9000 for every interface)',
  '-p': 'socklab listen takes the port as the address: socklab listen 9000 (or :9000 for every interface)',
  '-k': 'socklab listen keeps serving by default (--once serves one client)',
};

/** `listen -l 9000`, `-p 9000`, `-k`: the unknown flag, with what to write instead. */
export function listenHabit(argv: readonly string[]): void {
  const habit = argv.find((a) => LISTEN_FLAGS[a] !== undefined);
  if (habit !== undefined) throw usageError(`unknown option '${habit}': ${LISTEN_FLAGS[habit]}`);
}

/** `connect 127.0.0.1 9000` (host and port as two words) and `connect 9000`: the address meant. */
export function connectHabit(positionals: readonly string[]): void {
  const [first, second] = positionals;
  if (first === undefined) return;
  const port = /^\d{1,5}$/;
  if (port.test(first)) {
    throw usageError(
      `'${first}' is a port alone: a client needs a host too (did you mean 127.0.0.1:${first}?)`,
    );
  }
  if (second !== undefined && port.test(second) && !first.includes(':') && !first.startsWith('[')) {
    throw usageError(
      `host and port are one address here: did you mean ${first}:${second}? (socklab connect HOST:PORT [MESSAGE...])`,
    );
  }
  if (second !== undefined && port.test(second) && /^[0-9a-f:]+$/i.test(first) && first.includes(':')) {
    throw usageError(`host and port are one address here: did you mean [${first}]:${second}?`);
  }
}
