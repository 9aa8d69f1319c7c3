/** The line `listen` prints per address at exit (with --quiet or -v), summed over workers. */
import { plural } from '../format/plural.js';
import type { TcpServerStats } from '../server/tcp-server.js';
import type { UdpServerStats } from '../server/udp-server.js';

export type ServerTotals =
  | { readonly kind: 'tcp'; readonly where: string; readonly stats: TcpServerStats }
  | { readonly kind: 'udp'; readonly where: string; readonly stats: UdpServerStats };

export function formatSummary(t: ServerTotals): string {
  if (t.kind === 'tcp') {
    const { connections, bytesReceived, bytesSent } = t.stats;
    return `summary ${t.where}: ${plural(connections, 'connection')}, ${plural(bytesReceived, 'byte')} in, ${bytesSent} out`;
  }
  const { datagramsReceived, bytesReceived, dropped } = t.stats;
  return `summary ${t.where}: ${plural(datagramsReceived, 'datagram')}, ${plural(bytesReceived, 'byte')} received, ${dropped} dropped`;
}

/** Adds up the totals of several processes serving the same addresses, in first-seen order. */
export function sumTotals(all: readonly (readonly ServerTotals[])[]): ServerTotals[] {
  const sums = new Map<string, ServerTotals>();
  for (const totals of all) {
    for (const t of totals) {
      const key = `${t.kind} ${t.where}`;
      const seen = sums.get(key);
      if (seen === undefined) {
        sums.set(key, { ...t, stats: { ...t.stats } } as ServerTotals);
        continue;
      }
      const into = seen.stats as unknown as Record<string, number>;
      for (const [name, value] of Object.entries(t.stats as unknown as Record<string, number>)) {
        into[name] = (into[name] ?? 0) + value;
      }
    }
  }
  return [...sums.values()];
}
