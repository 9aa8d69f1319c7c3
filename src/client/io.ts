/** The streams a client session reads and writes: injected, so tests can run sessions in-process. */
import type { Readable, Writable } from 'node:stream';

export interface SessionIo {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  /**
   * When stdin is a regular file (`< file.bin`), its file descriptor: a session may read it
   * directly into reused buffers instead of through the stream (never both).
   */
  readonly stdinFile?: number;
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean };
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: the session closes cleanly and returns. */
  readonly signal: AbortSignal;
}
