/**
 * The closing words: seed 000's certified mail and postcards, with this run's numbers in place of
 * claims, and where to go next.
 */
import type { DemoFacts } from './facts.js';
import { count, ms, percent, plural } from './format.js';
import type { Narrator } from './narrator.js';

/** `beforeTryIt`: a scene told after the summary, before the commands to try (the comparison). */
export function summaryScene(narrator: Narrator, facts: DemoFacts, beforeTryIt?: () => void): void {
  const { boundaries, delivery, closedPort } = facts.promises;
  const { tcp, udp } = delivery;
  narrator.heading("In short (seed 000's picture)");

  const tcpAllThere = tcp.inOrder && tcp.bytesReceived === tcp.bytesSent;
  narrator.explain(
    'TCP is certified mail: the two sides agree on a connection first, every byte is acknowledged, ' +
      'resent if lost, and handed over in order. This run: ' +
      (tcpAllThere
        ? `${count(tcp.bytesReceived)} of ${count(tcp.bytesSent)} bytes arrived, in order`
        : `only ${count(tcp.bytesReceived)} of ${count(tcp.bytesSent)} bytes arrived in order`) +
      `; the sender was made to wait ${plural(tcp.drainWaits, 'time')} instead of losing anything` +
      (closedPort.tcp.refused ? `; a closed port was reported in ${ms(closedPort.tcp.ms)}.` : '.'),
  );
  narrator.explain(
    'UDP is postcards: no arrangement, no receipt, no order promised, each one a whole message. This ' +
      `run: ${count(udp.received)} of ${count(udp.sent)} datagrams arrived (${percent(udp.lost, udp.sent)} lost, ` +
      `${plural(udp.sendErrors, 'error')} reported to the sender); ${boundaries.udp.received.length} of ` +
      `${boundaries.udp.sent.length} small datagrams arrived as ${boundaries.udp.received.length} messages, ` +
      `where TCP turned ${boundaries.tcp.writes.length} writes into ${plural(boundaries.tcp.reads.length, 'read')}.`,
  );
  narrator.explain(
    'Use TCP when every byte matters (web pages, mail, files, databases). Use UDP when late is as bad ' +
      'as lost, and the program copes with loss itself (voice, video, games, DNS).',
  );

  beforeTryIt?.();
  narrator.heading('Try it yourself');
  narrator.explain("Seed 003's server, in one terminal:");
  narrator.command(
    'socklab listen 8081 --lines --welcome "Welcome!" --reply "Hello, {msg}!" --exit-word exit',
  );
  narrator.explain("Seed 004's interactive client, in another (type names, then exit):");
  narrator.command('socklab connect 127.0.0.1:8081');
  narrator.explain(
    `Demo done in ${ms(facts.durationMs)}, all on ${facts.host} with ports from the OS; every server ` +
      'and socket it opened is closed. socklab demo --json prints the measured facts.',
  );
}
