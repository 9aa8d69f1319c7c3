/**
 * What a fault is for users: a type (netem's or toxiproxy's word), typed parameters with units,
 * the direction(s) it applies to, the per-connection probability that it applies at all, and the
 * command-line flags that set it. The stage (stage.ts) is what runs it.
 *
 * One file per fault type in faults/; each exports a FaultType made with defineFault().
 */
import type { Transport } from '../address.js';
import { SocklabError } from '../errors.js';
import type { Direction, Stage } from './stage.js';
import {
  formatDuration,
  formatFraction,
  formatRate,
  formatSize,
  MAX_DURATION_MS,
  parseCount,
  parseDuration,
  parseFraction,
  parseRate,
  MIN_RATE_BYTES_PER_SEC,
  parseSize,
} from '../measure/units.js';

/** How a parameter is written: its unit decides the parser (units.ts) and the unit of its number. */
export type ParamKind =
  /** milliseconds; `40ms`, `1s` */
  | 'duration'
  /** 0..1; `10%`, `0.1` */
  | 'fraction'
  /** bytes per second; `1mbit`, `100kbps` */
  | 'rate'
  /** bytes; `1400`, `64kb` */
  | 'size'
  /** a whole number */
  | 'count'
  /** whole numbers from 1: `3,7,10` */
  | 'list'
  /** one of these words */
  | readonly string[];

export interface ParamSpec {
  readonly kind: ParamKind;
  readonly summary: string;
  /** Used when the parameter is not given. No default and not required: optional (undefined). */
  readonly default?: number | string;
  readonly required?: boolean;
  /** For `count`: the range. */
  readonly min?: number;
  readonly max?: number;
}

export interface FlagSpec {
  /** The flag's name without dashes: `delay` for `--delay`. */
  readonly flag: string;
  /** Placeholder in --help: `DURATION`. */
  readonly value: string;
  readonly summary: string;
  /** The flag's text → some of the fault's parameters (throws a usage error naming `what`). */
  parse(text: string, what: string): Record<string, unknown>;
  /** Only with the fault's other flags (e.g. --reorder-gap needs --reorder). */
  readonly modifier?: boolean;
  /** Its value is itself a list (`--drop 3,7`): commas are part of it, not a sweep of values. */
  readonly list?: boolean;
}

export interface FaultType<P extends object> {
  /** The name in the API, config files and counters: netem's word (delay, loss) or toxiproxy's. */
  readonly type: string;
  readonly summary: string;
  readonly transports: readonly Transport[];
  /** Position in the pipeline: stages run in rank order (netem's order), whatever order they're added. */
  readonly rank: number;
  readonly params: { readonly [K in keyof P & string]: ParamSpec };
  readonly flags: readonly FlagSpec[];
  /** Another fault type this one needs in the same direction to have any effect. */
  readonly requires?: string;
  /** Checks across parameters; throw a usage error (use `faultError`). */
  check?(params: P, what: string): void;
  /** One line for humans: `40ms ±10ms (normal)`. */
  describe(params: P): string;
  create(params: P): Stage<P>;
}

export function defineFault<P extends object>(type: FaultType<P>): FaultType<P> {
  return type;
}

/** What users write: in createRelay(), the API and config files. */
export interface FaultSpec {
  /** Unique in its relay. Default `<type>_<direction>` (`delay_down`), or `<type>` for both. */
  readonly name?: string;
  readonly type: string;
  /** Default `both`. */
  readonly direction?: Direction | 'both';
  /** The chance (0..1 or `50%`) that the fault applies to a given connection or flow at all:
   * toxiproxy's "toxicity". Default 1. Separate from per-packet rates such as lossRate. */
  readonly probability?: number | string;
  /** Numbers in the unit of the parameter's name (delayMs: 40), or text with units ('40ms'). */
  readonly params?: Readonly<Record<string, unknown>>;
}

/** A checked fault, complete with defaults. */
export interface Fault {
  readonly name: string;
  readonly type: string;
  readonly direction: Direction | 'both';
  readonly probability: number;
  readonly params: Readonly<Record<string, unknown>>;
}

/**
 * What a relay or fault name may be, in the API, config files and the command line: it is printed
 * on the operator's terminal and used in URLs, so nothing that a terminal would obey.
 */
export const NAME_PATTERN = /^[\w.-]{1,64}$/;
export const NAME_RULE = "1-64 letters, digits, '_', '-' or '.'";

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

// C0 and C1 controls, DEL, line and paragraph separators, bidi overrides and isolates.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * A user's text (a name, a type, a field) as it may go into a message that ends up on a terminal:
 * controls escaped as `\u001b`, and at most 64 characters. Messages stay one harmless line.
 */
export function printable(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const short = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return short.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function faultError(what: string, why: string): SocklabError {
  return new SocklabError('SOCKLAB_ERR_USAGE', `${what}: ${why}`);
}

export function directionsOf(direction: Direction | 'both'): Direction[] {
  return direction === 'both' ? ['up', 'down'] : [direction];
}

export function defaultFaultName(type: string, direction: Direction | 'both'): string {
  return direction === 'both' ? type : `${type}_${direction}`;
}

/**
 * The fault type named `name` in `types`, looked up as an own key only: `constructor`, `toString`
 * or `__proto__` are not fault types, whatever the table's prototype has.
 */
export function faultTypeOf(
  types: Readonly<Record<string, FaultType<object>>>,
  name: string,
): FaultType<object> | undefined {
  return Object.hasOwn(types, name) ? types[name] : undefined;
}

/** One parameter from a number (in the parameter's unit) or a text with units. */
export function readParam(spec: ParamSpec, value: unknown, what: string): number | string | number[] {
  const kind = spec.kind;
  if (kind === 'list') {
    if (typeof value === 'string') return parseNumberList(value, what);
    if (
      !Array.isArray(value) ||
      value.length === 0 ||
      !value.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1)
    ) {
      throw faultError(what, `${printable(value)} is not a list of whole numbers from 1`);
    }
    return [...new Set(value as number[])].sort((a, b) => a - b);
  }
  if (Array.isArray(kind)) {
    if (typeof value !== 'string' || !kind.includes(value)) {
      throw faultError(what, `'${printable(value)}' is not one of ${kind.join(', ')}`);
    }
    return value;
  }
  if (typeof value === 'string') {
    switch (kind) {
      case 'duration':
        return parseDuration(what, value);
      case 'fraction':
        return parseFraction(what, value);
      case 'rate':
        return parseRate(what, value);
      case 'size':
        return parseSize(what, value);
      case 'count':
        return parseCount(what, value, spec.min ?? 0, spec.max);
    }
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw faultError(
      what,
      `${printable(JSON.stringify(value) ?? String(value))} is not a number or a text with a unit`,
    );
  }
  switch (kind) {
    case 'duration':
      if (value < 0) throw faultError(what, `${value} is negative (a duration is 0 or more)`);
      if (value > MAX_DURATION_MS) throw faultError(what, `${value} ms is longer than a day`);
      return value;
    case 'fraction':
      if (value < 0 || value > 1) throw faultError(what, `${value} is out of range (0 to 1)`);
      return value;
    case 'rate':
      if (!(value >= MIN_RATE_BYTES_PER_SEC))
        throw faultError(what, `${value} bytes/s is too slow (a rate is at least 1 byte per second)`);
      return value;
    case 'size':
      if (!Number.isSafeInteger(value) || value < 0)
        throw faultError(what, `${value} is not a whole number of bytes`);
      return value;
    case 'count':
      if (!Number.isSafeInteger(value)) throw faultError(what, `${value} is not a whole number`);
      if (value < (spec.min ?? 0) || (spec.max !== undefined && value > spec.max)) {
        throw faultError(what, `${value} is out of range (${spec.min ?? 0} to ${spec.max ?? 'any'})`);
      }
      return value;
  }
  throw faultError(what, `unknown parameter kind`);
}

/** `3,7,10` or `3 7 10`: whole numbers from 1, sorted, each once. */
export function parseNumberList(text: string, what: string): number[] {
  const words = text
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean);
  if (words.length === 0 || !words.every((w) => /^\d+$/.test(w) && Number(w) >= 1)) {
    throw faultError(what, `'${printable(text)}' is not a list of whole numbers from 1 (3,7)`);
  }
  return [...new Set(words.map(Number))].sort((a, b) => a - b);
}

/** `40` as its kind reads: `40ms`, `10%`, `1mbit`, `64KiB`. */
export function formatParam(spec: ParamSpec, value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  if (typeof value !== 'number') return String(value);
  switch (spec.kind) {
    case 'duration':
      return formatDuration(value);
    case 'fraction':
      return formatFraction(value);
    case 'rate':
      return formatRate(value);
    case 'size':
      return formatSize(value);
    default:
      return String(value);
  }
}

/** Parameters checked and completed with defaults. `base` (an existing fault's) is overlaid by `input`. */
export function readParams<P extends object>(
  type: FaultType<P>,
  input: Readonly<Record<string, unknown>> | undefined,
  what: string,
  base?: Readonly<Record<string, unknown>>,
): P {
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw faultError(what, 'params must be an object');
  }
  const specs = type.params as Readonly<Record<string, ParamSpec>>;
  for (const key of Object.keys(input ?? {})) {
    if (!Object.hasOwn(specs, key)) {
      const known = Object.keys(specs).join(', ');
      throw faultError(what, `unknown parameter '${printable(key)}' for ${type.type} (parameters: ${known})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const given = input?.[key];
    if (given !== undefined && given !== null) out[key] = readParam(spec, given, `${what} ${key}`);
    else if (given === null)
      continue; // null clears an optional parameter
    else if (base?.[key] !== undefined) out[key] = base[key];
    else if (spec.default !== undefined) out[key] = spec.default;
    else if (spec.required) throw faultError(what, `${type.type} needs ${key} (${spec.summary})`);
  }
  const params = out as P;
  type.check?.(params, what);
  return params;
}

/** A user's fault spec → a checked fault. */
export function readFault(
  types: Readonly<Record<string, FaultType<object>>>,
  spec: unknown,
  transport: Transport | undefined,
  what = 'fault',
): Fault {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw faultError(what, 'a fault is an object');
  const s = spec as Record<string, unknown>;
  const known = new Set(['name', 'type', 'direction', 'probability', 'params']);
  for (const key of Object.keys(s)) {
    if (!known.has(key)) {
      throw faultError(
        what,
        `unknown field '${printable(key)}' (fields: name, type, direction, probability, params)`,
      );
    }
  }
  if (typeof s.type !== 'string') throw faultError(what, `needs a type (${Object.keys(types).join(', ')})`);
  const type = faultTypeOf(types, s.type);
  if (!type)
    throw faultError(
      what,
      `unknown fault type '${printable(s.type)}' (types: ${Object.keys(types).join(', ')})`,
    );
  const direction = s.direction ?? 'both';
  if (direction !== 'up' && direction !== 'down' && direction !== 'both') {
    throw faultError(what, `direction ${printable(JSON.stringify(direction))} is not up, down or both`);
  }
  if (s.name !== undefined && !isValidName(s.name)) {
    throw faultError(what, `name ${printable(JSON.stringify(s.name))} must be ${NAME_RULE}`);
  }
  const name = s.name ?? defaultFaultName(type.type, direction);
  const label = `${what} '${name}'`;
  if (transport !== undefined && !type.transports.includes(transport)) {
    throw faultError(label, transportReason(type, transport));
  }
  const probability =
    s.probability === undefined
      ? 1
      : (readParam({ kind: 'fraction', summary: '' }, s.probability, `${label} probability`) as number);
  const params = readParams(type, s.params as Record<string, unknown> | undefined, label);
  return { name, type: type.type, direction, probability, params: params as Record<string, unknown> };
}

export function transportReason(type: FaultType<object>, transport: Transport): string {
  if (transport === 'tcp') {
    return (
      `${type.type} is a UDP fault: on TCP every byte read is forwarded (dropping bytes from a stream ` +
      `is corruption, not loss); use reset-after or limit-data to end a stream`
    );
  }
  return `${type.type} is a TCP (stream) fault; this relay is UDP`;
}

/** `delay 40ms ±10ms (up, 50% of connections)`. */
export function describeFault(types: Readonly<Record<string, FaultType<object>>>, fault: Fault): string {
  const type = faultTypeOf(types, fault.type);
  const what = type ? type.describe(fault.params) : JSON.stringify(fault.params);
  const where = fault.direction === 'both' ? '' : ` ${fault.direction}`;
  const chance = fault.probability < 1 ? ` on ${formatFraction(fault.probability)} of connections` : '';
  return `${fault.type} ${what}${where}${chance}`.replace(/\s+/g, ' ').trim();
}
