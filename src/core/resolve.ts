/**
 * Host names to addresses, the one way every command looks them up: IP literals pass through
 * without a lookup; a failure is SOCKLAB_ERR_DNS with what was being attempted.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { describeSystemError, SocklabError } from '../errors.js';

export interface ResolveOptions {
  /** 4 or 6 to ask for one family only; any by default. */
  readonly family?: 4 | 6;
  /** IPv4 first (the default, as the seeds' programs do) or the resolver's own order. */
  readonly order?: 'ipv4first' | 'verbatim';
  /** What was being attempted, for the error: `cannot listen on tcp://localhost:0`. */
  readonly attempt: string;
}

function dnsError(attempt: string, err: unknown): SocklabError {
  return new SocklabError('SOCKLAB_ERR_DNS', `${attempt}: ${describeSystemError(err)}`, { cause: err });
}

/** One address for `host` (an IP literal is returned as it is). */
export async function resolveHost(host: string, options: ResolveOptions): Promise<string> {
  if (isIP(host) !== 0) return host;
  try {
    const found = await lookup(host, {
      ...(options.family !== undefined ? { family: options.family } : {}),
      order: options.order ?? 'ipv4first',
    });
    return found.address;
  } catch (err) {
    throw dnsError(options.attempt, err);
  }
}

/** Every address `host` has, each once (`localhost`: 127.0.0.1 and ::1). */
export async function resolveAll(host: string, options: ResolveOptions): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  try {
    const all = await lookup(host, { all: true, order: options.order ?? 'ipv4first' });
    return [...new Set(all.map((a) => a.address))];
  } catch (err) {
    throw dnsError(options.attempt, err);
  }
}

/** 'udp6' for an IPv6 literal, 'udp4' otherwise. */
export function datagramType(address: string): 'udp4' | 'udp6' {
  return isIP(address) === 6 ? 'udp6' : 'udp4';
}
