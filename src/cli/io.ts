/** What a command may touch of the outside world: injected, so tests can run commands in-process. */
import type { Readable, Writable } from 'node:stream';

export interface Io {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  /**
   * When stdin is a regular file (`< file.bin`), its file descriptor: a command may read it
   * directly into reused buffers instead of through the stream (never both).
   */
  readonly stdinFile?: number;
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean };
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: the command closes cleanly and returns. */
  readonly signal: AbortSignal;
}

/** A command returns its exit status (0 on success); errors are thrown as SocklabError. */
export type CommandResult = Promise<number>;
