/**
 * The impairment flags that relay and link share: one per fault type's flag (faults/index.ts),
 * scoped by --up/--down/--both in the order given.
 */
import type { Transport } from '../address.js';
import { transportReason, type FaultSpec } from '../impair/fault.js';
import { FAULT_TYPES } from '../impair/faults/index.js';
import type { Direction } from '../impair/stage.js';
import { usageError, type Token } from './args.js';

export const FAULT_FLAGS = Object.values(FAULT_TYPES).flatMap((type) =>
  type.flags.map((flag) => ({ type, flag })),
);
export const FLAG_OWNER = new Map(FAULT_FLAGS.map((f) => [f.flag.flag, f]));

/** The impairment flags, in order, scoped by --up/--down/--both → fault specs. */
export function faultsFromFlags(
  tokens: readonly Token[],
  transport: Transport,
  probability?: number,
): FaultSpec[] {
  let scope: Direction | 'both' = 'both';
  const groups = new Map<
    string,
    { type: string; scope: Direction | 'both'; flags: string[]; params: Record<string, unknown> }
  >();
  /** A direction flag not yet followed by an impairment: it would scope nothing. */
  let unused: string | undefined;
  const scopesNothing = (flag: string) =>
    usageError(`--${flag} applies to the impairments after it (e.g. --${flag} --loss 10%): none follows it`);
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (token.name === 'up' || token.name === 'down' || token.name === 'both') {
      if (unused !== undefined) throw scopesNothing(unused);
      scope = token.name;
      unused = token.name;
      continue;
    }
    const owner = FLAG_OWNER.get(token.name);
    if (!owner) continue;
    unused = undefined;
    const where = scope === 'both' ? '' : ` (--${scope})`;
    if (!owner.type.transports.includes(transport)) {
      throw usageError(`--${token.name}: ${transportReason(owner.type, transport)}`);
    }
    const key = `${scope}/${owner.type.type}`;
    const group = groups.get(key) ?? { type: owner.type.type, scope, flags: [], params: {} };
    groups.set(key, group);
    if (group.flags.includes(token.name)) throw usageError(`--${token.name} is given twice${where}`);
    group.flags.push(token.name);
    Object.assign(group.params, owner.flag.parse(token.value ?? '', `--${token.name}`));
  }
  if (unused !== undefined) throw scopesNothing(unused);
  if (probability !== undefined && groups.size === 0) {
    throw usageError(
      '--probability applies to the faults given with it (e.g. --loss 10% --probability 50%): none is given',
    );
  }
  const specs: FaultSpec[] = [];
  for (const group of groups.values()) {
    const type = FAULT_TYPES[group.type]!;
    const main = type.flags.filter((f) => !f.modifier).map((f) => `--${f.flag}`);
    if (!group.flags.some((f) => type.flags.find((x) => x.flag === f)?.modifier !== true)) {
      throw usageError(`--${group.flags[0]} needs ${main.join(' or ')}`);
    }
    specs.push({
      type: group.type,
      direction: group.scope,
      params: group.params,
      ...(probability !== undefined ? { probability } : {}),
    });
  }
  for (const spec of specs) {
    const needs = FAULT_TYPES[spec.type]!.requires;
    if (needs === undefined) continue;
    const covered = (d: Direction) =>
      specs.some((s) => s.type === needs && (s.direction === 'both' || s.direction === d));
    const directions: Direction[] =
      spec.direction === 'both' ? ['up', 'down'] : [spec.direction as Direction];
    if (!directions.every(covered)) {
      const flag = FAULT_TYPES[spec.type]!.flags[0]!.flag;
      const needFlag = FAULT_TYPES[needs]!.flags[0]!.flag;
      throw usageError(
        `--${flag} needs --${needFlag} in the same direction (a datagram sent ahead overtakes delayed ones)`,
      );
    }
  }
  return specs;
}
