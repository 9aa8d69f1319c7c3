/**
 * The file of a Unix socket that socklab binds: a stale socket file (left by a server that died)
 * is replaced, a live one is not (EADDRINUSE), and anything that is not a socket is never touched;
 * the file is removed again on close, if it is still the one this process made.
 */
import { lstatSync, unlinkSync, type Stats } from 'node:fs';
import net from 'node:net';
import { SocklabError } from '../errors.js';

function statOf(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Whether a stream server answers at `path` (ECONNREFUSED: nobody, the file is stale). */
function streamServerAt(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    const done = (alive: boolean) => {
      probe.destroy();
      resolve(alive); // the first answer counts
    };
    probe.once('connect', () => done(true));
    probe.on('error', () => done(false));
    probe.setTimeout(1000, () => done(true)); // a server too busy to accept is still a server
  });
}

/**
 * Make way for a socket at `path` (`where` names it in errors). `kind` 'stream': an existing
 * socket file with a live server is left alone (the bind then fails with EADDRINUSE).
 * Abstract names (`@name`) have no file.
 */
export async function clearStaleSocket(
  path: string,
  where: string,
  kind: 'stream' | 'datagram',
): Promise<void> {
  if (path.startsWith('@') || path === '') return;
  const stats = statOf(path);
  if (stats === undefined) return;
  if (!stats.isSocket()) {
    throw new SocklabError(
      'SOCKLAB_ERR_BIND',
      `cannot listen on ${where}: ${path} exists and is not a socket (left as it is)`,
    );
  }
  if (kind === 'stream' && (await streamServerAt(path))) return;
  try {
    unlinkSync(path);
  } catch {
    // Gone already, or not ours to remove: the bind says which.
  }
}

/** Remove the socket file at `path` when `close` is called, if it is still the one made now. */
export function removeOnClose(path: string): () => void {
  if (path.startsWith('@') || path === '') return () => undefined;
  const made = statOf(path);
  return () => {
    const now = statOf(path);
    if (made === undefined || now === undefined || !now.isSocket()) return;
    if (now.ino !== made.ino || now.dev !== made.dev) return;
    try {
      unlinkSync(path);
    } catch {
      // Removed by someone else meanwhile.
    }
  };
}
