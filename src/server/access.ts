/**
 * Access control for servers (`nc -l`, `listen`, `relay`): ncat's --allow / --deny /
 * --allowfile / --denyfile. A spec is an IP address, a CIDR range (`10.0.0.0/8`, `fd00::/8`) or
 * a host name, resolved once at start (every address it has). Repeated options add up; files
 * hold specs separated by whitespace or newlines (`#` starts a comment). Deny wins over allow;
 * with no allow spec everyone not denied is allowed. An IPv4 client seen on an IPv6 socket
 * (`::ffff:127.0.0.1`) is matched as the IPv4 address it is.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { describeSystemError, SocklabError } from '../errors.js';
import { createAddressSet, type AddressSet } from '../core/address-set.js';
import { resolveAll } from '../core/resolve.js';

export interface AccessSpecs {
  readonly allow: readonly string[];
  readonly allowFiles: readonly string[];
  readonly deny: readonly string[];
  readonly denyFiles: readonly string[];
}

export const NO_ACCESS_SPECS: AccessSpecs = { allow: [], allowFiles: [], deny: [], denyFiles: [] };

export interface AccessControl {
  /** True when a client at `address` (an IP literal) may connect or send. */
  allows(address: string): boolean;
  /** False when no spec was given: every client is allowed. */
  readonly active: boolean;
}

export const ALLOW_EVERYONE: AccessControl = { allows: () => true, active: false };

/** `::ffff:127.0.0.1` → `127.0.0.1`; anything else as it is (a zone dropped). */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address.replace(/%.*$/, '');
}

function usage(message: string, cause?: unknown): SocklabError {
  return new SocklabError('SOCKLAB_ERR_USAGE', message, cause !== undefined ? { cause } : undefined);
}

/** The specs in an allow/deny file; a file that cannot be read is a usage error (exit 2, as ncat). */
async function specsIn(flag: string, file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw usage(`${flag}: cannot read ${file}: ${describeSystemError(err)}`, err);
  }
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .flatMap((line) => line.split(/\s+/))
    .filter((s) => s !== '');
}

async function addSpec(set: AddressSet, flag: string, spec: string): Promise<void> {
  const slash = spec.indexOf('/');
  if (slash >= 0) {
    const base = plainAddress(spec.slice(0, slash));
    const bits = spec.slice(slash + 1);
    const family = isIP(base);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || !/^\d+$/.test(bits) || Number(bits) > max)
      throw usage(`${flag}: '${spec}' is not an address range (e.g. 10.0.0.0/8, fd00::/8)`);
    set.addSubnet(base, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
    return;
  }
  const literal = plainAddress(spec);
  const addresses =
    isIP(literal) !== 0
      ? [literal]
      : await resolveAll(spec, { attempt: `${flag}: cannot resolve '${spec}'` });
  for (const a of addresses) {
    const plain = plainAddress(a);
    set.addAddress(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Reads the files, resolves the names: the rules, ready to check clients against. */
export async function buildAccessControl(specs: AccessSpecs): Promise<AccessControl> {
  const allowSpecs: (readonly [string, string])[] = specs.allow.map((s) => ['--allow', s] as const);
  for (const f of specs.allowFiles)
    allowSpecs.push(...(await specsIn('--allowfile', f)).map((s) => ['--allowfile', s] as const));
  const denySpecs: (readonly [string, string])[] = specs.deny.map((s) => ['--deny', s] as const);
  for (const f of specs.denyFiles)
    denySpecs.push(...(await specsIn('--denyfile', f)).map((s) => ['--denyfile', s] as const));
  const anyAllowGiven = specs.allow.length > 0 || specs.allowFiles.length > 0;
  if (!anyAllowGiven && denySpecs.length === 0) return ALLOW_EVERYONE;
  const allow = createAddressSet();
  const deny = createAddressSet();
  for (const [flag, spec] of allowSpecs) await addSpec(allow, flag, spec);
  for (const [flag, spec] of denySpecs) await addSpec(deny, flag, spec);
  return {
    active: true,
    allows(address: string): boolean {
      const plain = plainAddress(address);
      const type = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
      if (deny.check(plain, type)) return false;
      // An allow file with no specs in it allows nobody (as ncat: the list is empty).
      return anyAllowGiven ? allow.check(plain, type) : true;
    },
  };
}
