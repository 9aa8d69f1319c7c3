/**
 * Real peers (ncat, socat, OpenBSD nc) as servers for socklab's clients.
 *
 * Unlike socklab and the seeds' Python, these cannot tell us the port they got from port 0, so a
 * peer server gets a port that was free a moment ago: the test binds port 0 itself, reads the
 * port, closes the socket and passes the number on. That is racy by nature (another process may
 * take the port in between), so a peer that fails with "address in use" is started again on a
 * new port. This is the one place the tests pick a port number themselves.
 */
import { freePort } from './ports.js';
import { findExecutable, startProcess, type Spawned } from './spawn.js';

/** The peers by the names CI installs them under (apt: ncat, socat, netcat-openbsd). */
export const PEERS = { ncat: 'ncat', socat: 'socat', nc: 'nc.openbsd' } as const;
export type PeerName = keyof typeof PEERS;

/** Full paths of the peers present on this machine (absent ones are missing from the map). */
export async function findPeers(): Promise<Partial<Record<PeerName, string>>> {
  const found: Partial<Record<PeerName, string>> = {};
  for (const name of Object.keys(PEERS) as PeerName[]) {
    const full = await findExecutable(PEERS[name]);
    if (full !== undefined) found[name] = full;
  }
  return found;
}

export interface PeerServer extends Spawned {
  readonly port: number;
}

export interface PeerServerOptions {
  readonly transport: 'tcp' | 'udp';
  /** The peer's argv for a given port. */
  readonly args: (port: number) => string[];
  /** What the peer prints (on stderr, in verbose mode) once it is bound and listening. */
  readonly ready: RegExp;
  /** Where it prints that (default stderr). */
  readonly stream?: 'stdout' | 'stderr';
  readonly attempts?: number;
  readonly readyTimeoutMs?: number;
}

const ADDRESS_IN_USE = /address already in use|EADDRINUSE/i;

/**
 * Start a peer server on a free port and resolve once it says it is listening. If the port was
 * taken between our check and the peer's bind, try again on another port (up to `attempts`).
 * Register `t.after(() => server.stop())` right away.
 */
export async function startPeerServer(command: string, options: PeerServerOptions): Promise<PeerServer> {
  const attempts = options.attempts ?? 5;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await freePort(options.transport);
    const proc = startProcess(command, options.args(port));
    try {
      await proc.waitFor(options.ready, options.stream ?? 'stderr', options.readyTimeoutMs ?? 10_000);
      return Object.assign(proc, { port });
    } catch (err) {
      lastError = err;
      await proc.stop('SIGKILL');
      if (!ADDRESS_IN_USE.test(proc.stderr() + proc.stdout())) throw err;
    }
  }
  throw new Error(`${command}: no free port after ${attempts} attempts`, { cause: lastError });
}

/**
 * `openssl s_server` on a free port of 127.0.0.1 for one client, with this certificate, answering
 * each line reversed (`-rev`); `extra` adds flags (SNI, ALPN). Register `t.after(() => server.stop())`.
 */
export function startOpensslServer(
  openssl: string,
  cert: { readonly certFile: string; readonly keyFile: string },
  extra: readonly string[] = [],
): Promise<PeerServer> {
  return startPeerServer(openssl, {
    transport: 'tcp',
    args: (port) => [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-naccept',
      '1',
      '-cert',
      cert.certFile,
      '-key',
      cert.keyFile,
      '-rev',
      ...extra,
    ],
    ready: /ACCEPT/,
    stream: 'stdout',
  });
}
