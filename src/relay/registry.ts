/**
 * Several named relays in one process: what the control API and config files work on.
 */
import { EventEmitter } from 'node:events';
import { SocklabError } from '../errors.js';
import { isValidName, NAME_RULE, printable } from '../impair/fault.js';
import { createRelay, type Relay, type RelayOptions } from './relay.js';

export interface RelayRegistryEvents {
  /** A relay was created (from a config file, the API or the command line). */
  add: [relay: Relay];
  /** A relay was closed and removed. */
  remove: [relay: Relay];
}

export class RelayRegistry extends EventEmitter<RelayRegistryEvents> {
  readonly #relays = new Map<string, Relay>();

  list(): Relay[] {
    return [...this.#relays.values()];
  }

  get(name: string): Relay | undefined {
    return this.#relays.get(name);
  }

  /** Start a relay under its name (default `relay`, which must be free and follow NAME_RULE). */
  async create(options: RelayOptions): Promise<Relay> {
    const name = options.name ?? 'relay';
    if (!isValidName(name)) {
      throw new SocklabError(
        'SOCKLAB_ERR_USAGE',
        `relay name '${printable(name)}' is not a name: expected ${NAME_RULE}`,
      );
    }
    if (this.#relays.has(name))
      throw new SocklabError('SOCKLAB_ERR_EXISTS', `a relay named '${name}' already exists`);
    const relay = await createRelay({ ...options, name });
    if (this.#relays.has(name)) {
      // Created twice at once: keep the first.
      await relay.close();
      throw new SocklabError('SOCKLAB_ERR_EXISTS', `a relay named '${name}' already exists`);
    }
    this.#relays.set(name, relay);
    this.emit('add', relay);
    return relay;
  }

  /** Close a relay and forget it. */
  async remove(name: string): Promise<void> {
    const relay = this.#relays.get(name);
    if (!relay) throw new SocklabError('SOCKLAB_ERR_NOT_FOUND', `no relay named '${name}'`);
    this.#relays.delete(name);
    await relay.close();
    this.emit('remove', relay);
  }

  /** toxiproxy's reset: every relay loses its faults; counters start again from zero. */
  reset(): void {
    for (const relay of this.#relays.values()) {
      relay.resetFaults();
      relay.resetCounters();
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#relays.values()].map((r) => r.close()));
  }
}
