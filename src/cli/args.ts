/**
 * Turning argv into typed options: node:util's parseArgs (strict) with socklab's one-line errors.
 * Every mistake becomes a SOCKLAB_ERR_USAGE, which the entry point maps to exit 2 and a pointer
 * to `--help`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SocklabError } from '../errors.js';
import { parseDuration } from '../measure/units.js';

export type OptionTable = NonNullable<ParseArgsConfig['options']>;

export function usageError(message: string): SocklabError {
  return new SocklabError('SOCKLAB_ERR_USAGE', message);
}

/** The values parseArgs returns for an option table: booleans, strings, or arrays with `multiple`. */
export type ParsedValues<T extends OptionTable> = {
  [K in keyof T]?: T[K] extends { multiple: true }
    ? T[K] extends { type: 'boolean' }
      ? boolean[]
      : string[]
    : T[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

/** One parsed argv element, in order (flags, their values, positionals). */
export type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/**
 * `--delay -5ms`, `--timeout -1`: a value that starts like a negative number is taken as the value
 * of a flag that expects one, so the error says what is wrong with it (negative) rather than that
 * the command line is ambiguous.
 */
function joinNegativeValues(argv: readonly string[], options: OptionTable): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = /^--([a-z][a-z0-9-]*)$/.exec(arg)?.[1];
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined && /^-\d/.test(next) && options[name]?.type === 'string') {
      args.push(`${arg}=${next}`);
      i += 1;
    } else args.push(arg);
  }
  return args;
}

/**
 * parseArgs in strict mode; its TypeErrors become usage errors that name the flag. `tokens` keeps
 * the order of the flags, for commands where order means something (relay's --up/--down).
 */
export function parseCommandLine<T extends OptionTable>(
  argv: readonly string[],
  options: T,
): { values: ParsedValues<T>; positionals: string[]; tokens: Token[] } {
  try {
    const parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    return { values: parsed.values, positionals: parsed.positionals, tokens: parsed.tokens };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // "Unknown option '--foo'. To specify a positional argument starting with a '-', …" → first sentence.
    const first = message.split(/\.[ \n]/)[0]!.replace(/\.$/, '');
    const ambiguous = /^Option '(-[^ ']+)/.exec(first);
    // socklab's messages start in lower case, parseArgs' with a capital.
    const said = first.charAt(0).toLowerCase() + first.slice(1);
    throw usageError(
      ambiguous && first.includes('ambiguous')
        ? `${said} (for a value starting with '-', write ${ambiguous[1]}=VALUE)`
        : said,
    );
  }
}

export interface NumberRule {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** A number from a flag's text, within bounds, or a usage error naming the flag. */
export function parseNumber(flag: string, text: string, rule: NumberRule = {}): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw usageError(`${flag}: '${text}' is not a number`);
  if (rule.integer && !Number.isInteger(value)) throw usageError(`${flag}: '${text}' is not a whole number`);
  if (rule.min !== undefined && value < rule.min)
    throw usageError(`${flag}: ${text} is below the minimum of ${rule.min}`);
  if (rule.max !== undefined && value > rule.max)
    throw usageError(`${flag}: ${text} is above the maximum of ${rule.max}`);
  return value;
}

/** Like parseNumber, for an optional flag. */
export function optionalNumber(
  flag: string,
  text: string | undefined,
  rule: NumberRule = {},
): number | undefined {
  return text === undefined ? undefined : parseNumber(flag, text, rule);
}

/** `--flag` values that exclude each other: at most one may be set. */
export function atMostOne(values: Record<string, unknown>): void {
  const set = Object.entries(values).filter(([, v]) => v !== undefined && v !== false);
  if (set.length > 1) throw usageError(`${set.map(([k]) => k).join(' and ')} cannot be used together`);
}

/** A duration flag (`500ms`, `2s`: a unit is needed, as everywhere), in ms, at least `minMs`. */
export function optionalDuration(flag: string, text: string | undefined, minMs = 0): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(flag, text);
  if (ms < minMs) throw usageError(`${flag}: ${text} is below the minimum of ${minMs}ms`);
  return ms;
}
