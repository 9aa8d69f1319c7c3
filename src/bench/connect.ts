/** Opening a TCP connection for the bench client, with socklab's one-line errors. */
import { connect, type OnReadOpts, type Socket } from 'node:net';
import { describeSystemError, SocklabError } from '../errors.js';

export interface BenchConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** A reused read buffer (no allocation per read); the data then goes to its callback only. */
  readonly onread?: OnReadOpts;
}

export function connectBench(options: BenchConnectOptions): Promise<Socket> {
  const where = `tcp://${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      ...(options.onread ? { onread: options.onread } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new SocklabError(
          'SOCKLAB_ERR_TIMEOUT',
          `cannot connect to ${where}: timed out after ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(
        new SocklabError('SOCKLAB_ERR_CONNECT', `cannot connect to ${where}: ${describeSystemError(err)}`, {
          cause: err,
        }),
      );
    };
    socket.once('error', onError);
  });
}
