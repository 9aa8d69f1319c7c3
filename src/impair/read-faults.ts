/** A list of users' fault specs → checked faults: each one, unique names, and what each needs. */
import type { Transport } from '../address.js';
import { directionsOf, faultError, readFault, type Fault } from './fault.js';
import { FAULT_TYPES } from './faults/index.js';

/** Faults checked together: known types for this transport, unique names, and what each needs. */
export function readFaults(specs: readonly unknown[], transport: Transport, what = 'fault'): Fault[] {
  const faults = specs.map((spec, i) =>
    readFault(FAULT_TYPES, spec, transport, specs.length > 1 ? `${what} ${i + 1}` : what),
  );
  const names = new Set<string>();
  for (const fault of faults) {
    if (names.has(fault.name)) {
      throw faultError(what, `two faults are named '${fault.name}' (give one a name)`);
    }
    names.add(fault.name);
  }
  for (const fault of faults) {
    const needs = FAULT_TYPES[fault.type]?.requires;
    if (needs === undefined) continue;
    for (const direction of directionsOf(fault.direction)) {
      const found = faults.some((f) => f.type === needs && directionsOf(f.direction).includes(direction));
      if (!found) {
        throw faultError(
          `${what} '${fault.name}'`,
          `${fault.type} needs a ${needs} in the same direction (${direction}): a datagram sent ahead overtakes delayed ones`,
        );
      }
    }
  }
  return faults;
}
