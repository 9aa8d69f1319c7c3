/**
 * Relays from a file, JSON or YAML (several relays in one process):
 *
 * ```yaml
 * seed: 7                       # optional: for every relay without its own
 * api: 127.0.0.1:8474           # optional: serve the control API there
 * relays:
 *   - name: dns
 *     listen: udp://127.0.0.1:5353
 *     upstream: udp://127.0.0.1:53
 *     faults:
 *       - { type: loss, direction: up, params: { lossRate: 10% } }
 *       - { type: delay, params: { delayMs: 40ms, jitterMs: 10ms } }
 *   - name: web
 *     listen: 127.0.0.1:8080
 *     upstream: 127.0.0.1:80
 *     maxBufferedBytes: 16mb
 * ```
 *
 * A fault is what the API takes (`{name?, type, direction?, probability?, params?}`); parameters are
 * numbers in the unit of their name (`delayMs: 40`) or text with units (`delayMs: 40ms`). A file that
 * is a list is taken as the list of relays (toxiproxy's config files are such lists).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseAddress, type Endpoint } from '../address.js';
import { describeSystemError, isSocklabError, SocklabError } from '../errors.js';
import { isValidName, NAME_RULE, printable, readParam, type FaultSpec } from '../impair/fault.js';
import { readEndpoints, readFaults, type RelayOptions } from './relay.js';

export interface RelayConfig {
  readonly seed?: number;
  /** Where to serve the control API. */
  readonly api?: Endpoint;
  /** One entry per relay: everything createRelay() takes but a signal and a clock. */
  readonly relays: readonly RelayOptions[];
}

function configError(source: string, where: string, why: string): SocklabError {
  return new SocklabError('SOCKLAB_ERR_USAGE', `${source}: ${where}${where ? ': ' : ''}${why}`);
}

const RELAY_FIELDS = [
  'name',
  'listen',
  'upstream',
  'faults',
  'seed',
  'maxBufferedBytes',
  'maxBufferedPackets',
  'maxConnections',
  'maxFlows',
  'flowIdleMs',
];

/** A parsed config document → checked relays. Throws usage errors that name the file and the field. */
export function readConfig(document: unknown, source: string): RelayConfig {
  const top: Record<string, unknown> = Array.isArray(document)
    ? { relays: document }
    : typeof document === 'object' && document !== null
      ? (document as Record<string, unknown>)
      : {};
  if (typeof document !== 'object' || document === null)
    throw configError(source, '', 'expected an object with "relays", or a list of relays');
  for (const key of Object.keys(top)) {
    if (!['seed', 'api', 'relays'].includes(key))
      throw configError(source, printable(key), 'unknown field (fields: seed, api, relays)');
  }
  const seed = top.seed === undefined ? undefined : wholeNumber(top.seed, source, 'seed', 0xffffffff);
  let api: Endpoint | undefined;
  if (top.api !== undefined) {
    if (typeof top.api !== 'string' && typeof top.api !== 'number')
      throw configError(source, 'api', 'expected an address such as 127.0.0.1:8474');
    api = parseAddress(String(top.api), { role: 'listen' });
  }
  if (!Array.isArray(top.relays) || top.relays.length === 0)
    throw configError(source, 'relays', 'expected a list of one relay or more');
  const names = new Set<string>();
  const relays = top.relays.map((entry: unknown, i): RelayOptions => {
    const where = `relays[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw configError(source, where, 'a relay is an object');
    const r = entry as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (!RELAY_FIELDS.includes(key))
        throw configError(
          source,
          `${where}.${printable(key)}`,
          `unknown field (fields: ${RELAY_FIELDS.join(', ')})`,
        );
    }
    const name = r.name === undefined ? `relay${i + 1}` : r.name;
    if (!isValidName(name)) throw configError(source, `${where}.name`, `expected ${NAME_RULE}`);
    if (names.has(name))
      throw configError(source, `${where}.name`, `'${name}' is already the name of another relay`);
    names.add(name);
    const label = `${where} (${name})`;
    if (r.listen === undefined || r.upstream === undefined)
      throw configError(source, label, 'needs listen and upstream');
    const guard = <T>(what: string, fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        if (isSocklabError(err) && err.isUsage) throw configError(source, `${label}${what}`, err.message);
        throw err;
      }
    };
    const { listen, upstream } = guard('', () => readEndpoints(String(r.listen), String(r.upstream)));
    if (r.faults !== undefined && !Array.isArray(r.faults))
      throw configError(source, `${label}.faults`, 'expected a list of faults');
    const faults = (r.faults ?? []) as unknown[];
    guard('', () => readFaults(faults, listen.transport));
    const size = (key: string) =>
      r[key] === undefined
        ? undefined
        : (guard(`.${key}`, () => readParam({ kind: 'size', summary: '' }, r[key], key)) as number);
    const count = (key: string) =>
      r[key] === undefined
        ? undefined
        : (guard(`.${key}`, () => readParam({ kind: 'count', summary: '', min: 1 }, r[key], key)) as number);
    const maxBufferedBytes = size('maxBufferedBytes');
    const maxBufferedPackets = count('maxBufferedPackets');
    const maxConnections = count('maxConnections');
    const maxFlows = count('maxFlows');
    const flowIdleMs =
      r.flowIdleMs === undefined
        ? undefined
        : (guard('.flowIdleMs', () =>
            readParam({ kind: 'duration', summary: '' }, r.flowIdleMs, 'flowIdleMs'),
          ) as number);
    const relaySeed = r.seed === undefined ? seed : wholeNumber(r.seed, source, `${label}.seed`, 0xffffffff);
    return {
      name,
      listen,
      upstream,
      faults: faults as FaultSpec[],
      ...(relaySeed !== undefined ? { seed: relaySeed } : {}),
      ...(maxBufferedBytes !== undefined ? { maxBufferedBytes } : {}),
      ...(maxBufferedPackets !== undefined ? { maxBufferedPackets } : {}),
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      ...(maxFlows !== undefined ? { maxFlows } : {}),
      ...(flowIdleMs !== undefined ? { flowIdleMs } : {}),
    };
  });
  return { relays, ...(seed !== undefined ? { seed } : {}), ...(api !== undefined ? { api } : {}) };
}

function wholeNumber(value: unknown, source: string, where: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw configError(source, where, `expected a whole number from 0 to ${max}`);
  }
  return value;
}

/** Read and check a JSON (.json) or YAML (.yaml, .yml, or anything else) file. */
export async function loadConfig(path: string): Promise<RelayConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SocklabError('SOCKLAB_ERR_FILE', `cannot read ${path}: ${describeSystemError(err)}`, {
      cause: err,
    });
  }
  let document: unknown;
  try {
    document = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new SocklabError(
      'SOCKLAB_ERR_USAGE',
      `${path}: not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${why}`,
      {
        cause: err,
      },
    );
  }
  return readConfig(document, path);
}
