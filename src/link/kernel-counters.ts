/**
 * The kernel's own counters for a network namespace, read from /proc/PID/net/snmp and
 * /proc/PID/net/netstat (PID: any process inside it): what TCP retransmitted and UDP rejected,
 * to set beside what the link did.
 */
import { readFileSync } from 'node:fs';

export interface KernelCounters {
  /** TCP segments sent and received, and resent (Tcp: OutSegs, InSegs, RetransSegs). */
  readonly tcpOutSegs: number;
  readonly tcpInSegs: number;
  readonly tcpRetransSegs: number;
  /** Tail loss probes sent (TcpExt: TCPLossProbes). */
  readonly tcpLossProbes: number;
  /** Retransmission timeouts (TcpExt: TCPTimeouts). */
  readonly tcpTimeouts: number;
  /** Segments received with a bad checksum (Tcp: InCsumErrors). */
  readonly tcpInCsumErrors: number;
  /** Udp: InDatagrams, InErrors, InCsumErrors. */
  readonly udpInDatagrams: number;
  readonly udpInErrors: number;
  readonly udpInCsumErrors: number;
}

/** `Tcp: A B\nTcp: 1 2` → { 'Tcp.A': 1, 'Tcp.B': 2 }. */
export function parseSnmp(text: string): Map<string, number> {
  const values = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.trim().split(/\s+/);
    const numbers = lines[i + 1]!.trim().split(/\s+/);
    const prefix = names[0]?.replace(/:$/, '');
    if (!prefix || numbers[0] !== names[0]) continue;
    for (let k = 1; k < names.length; k++) values.set(`${prefix}.${names[k]}`, Number(numbers[k] ?? 0));
  }
  return values;
}

/** The counters of the namespace that process `pid` is in (throws if it is gone). */
export function readKernelCounters(pid: number): KernelCounters {
  const snmp = parseSnmp(readFileSync(`/proc/${pid}/net/snmp`, 'utf8'));
  const netstat = parseSnmp(readFileSync(`/proc/${pid}/net/netstat`, 'utf8'));
  const get = (map: Map<string, number>, key: string) => map.get(key) ?? 0;
  return {
    tcpOutSegs: get(snmp, 'Tcp.OutSegs'),
    tcpInSegs: get(snmp, 'Tcp.InSegs'),
    tcpRetransSegs: get(snmp, 'Tcp.RetransSegs'),
    tcpLossProbes: get(netstat, 'TcpExt.TCPLossProbes'),
    tcpTimeouts: get(netstat, 'TcpExt.TCPTimeouts'),
    tcpInCsumErrors: get(snmp, 'Tcp.InCsumErrors'),
    udpInDatagrams: get(snmp, 'Udp.InDatagrams'),
    udpInErrors: get(snmp, 'Udp.InErrors'),
    udpInCsumErrors: get(snmp, 'Udp.InCsumErrors'),
  };
}

/**
 * Packets a device dropped on its way to this process (TX drop in /proc/PID/net/dev: the device's
 * queue was full before socklab read them), or 0 if the device or the namespace is gone.
 */
export function deviceTxDropped(pid: number | 'self', device: string): number {
  try {
    for (const line of readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n')) {
      const [name, rest] = line.split(':');
      if (name?.trim() !== device || rest === undefined) continue;
      return Number(rest.trim().split(/\s+/)[11] ?? 0);
    }
  } catch {
    // gone
  }
  return 0;
}
