/** What a command may touch of the outside world: injected, so tests can run commands in-process. */
import type { SessionIo } from '../client/io.js';

/** stdin, stdout, stderr and the signal that Ctrl-C aborts (the same streams a client session gets). */
export type Io = SessionIo;
