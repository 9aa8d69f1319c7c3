/** TEMPORARY placeholder while the command is being written; replaced before commit. */
import { SocklabError } from '../../errors.js';
import type { Io } from '../io.js';

export const help = 'socklab get: not built yet\n';
export function parse(_argv: readonly string[]): Record<string, never> {
  return {};
}
export function run(_options: Record<string, never>, _io: Io): Promise<number> {
  return Promise.reject(new SocklabError('SOCKLAB_ERR_USAGE', 'get is not built yet'));
}
