/** `socklab relay LISTEN TARGET [impairments]`: a fault-injecting proxy for TCP and UDP. */
import { tlsServerIdentity } from '../../core/tls.js';
import {
  checkTlsFlags,
  TLS_CLIENT_HELP,
  TLS_OPTIONS,
  TLS_SERVER_HELP,
  tlsClientFrom,
  tlsServerFrom,
} from '../tls-options.js';
import { buildAccessControl, type AccessSpecs } from '../../server/access.js';
import { formatAddress, parseAddress, type Endpoint, type Transport } from '../../address.js';
import { faultError } from '../../impair/fault.js';
import { sanitizeForTerminal } from '../../format/terminal.js';
import { version } from '../version.js';
import { serveApi, type ApiServer } from '../../relay/api.js';
import { loadConfig } from '../../relay/config.js';
import { RelayRegistry } from '../../relay/registry.js';
import { MemoryBudget } from '../../impair/pipeline.js';
import {
  DEFAULT_MEMORY_BUDGET_BYTES,
  describeCounters,
  readEndpoints,
  readFaults,
  type Relay,
  type RelayOptions,
} from '../../relay/relay.js';
import { formatSize, parseCount, parseDuration, parseFraction, parseSize } from '../../measure/units.js';
import { parseCommandLine, usageError } from '../args.js';
import { FAULT_FLAGS, FLAG_OWNER, faultsFromFlags } from '../fault-flags.js';

export { faultsFromFlags };
import type { Io } from '../io.js';
import { sayOnceThenCount, type RepeatReport } from '../../format/repeats.js';

function faultHelp(transport: Transport): string {
  return FAULT_FLAGS.filter(({ type }) => type.transports.length === 1 && type.transports[0] === transport)
    .map(({ flag }) => flagLine(flag.flag, flag.value, flag.summary))
    .join('\n');
}

function flagLine(flag: string, value: string, summary: string): string {
  const left = `      --${flag} ${value}`;
  return left.length < 32 ? `${left.padEnd(32)}${summary}` : `${left}\n${''.padEnd(32)}${summary}`;
}

const BOTH_HELP = FAULT_FLAGS.filter(({ type }) => type.transports.length === 2)
  .map(({ flag }) => flagLine(flag.flag, flag.value, flag.summary))
  .join('\n');

export const help = `Usage: socklab relay LISTEN TARGET [impairments] [options]
       socklab relay --config FILE [--api ADDRESS] [options]
       socklab relay --api ADDRESS                 (relays are then created through the API)

A proxy that injects network faults, for TCP and UDP, with netem's words and toxiproxy's shape.
Clients connect to LISTEN; each TCP connection gets its own connection to TARGET, each UDP
client address its own upstream socket (a flow), so replies go back to the right client.

LISTEN is [tcp|udp://]HOST:PORT as for 'socklab listen' (a bare PORT binds 127.0.0.1); TARGET is
HOST:PORT; a side without a scheme takes the other's. It prints "listening on tcp://127.0.0.1:PORT".
Either side may be tls://HOST:PORT (TLS ends or starts at the relay: the faults act on the
plain bytes) or unix:PATH (a Unix socket: stream, datagram with -u), in any mix:
tls://:8443 → tcp://127.0.0.1:8080 terminates TLS, unix:/tmp/app.sock → 127.0.0.1:8080 exposes
a TCP service on a Unix socket, -u unix:/tmp/d.sock → udp://127.0.0.1:53 a UDP one.

Impairments apply to both directions, or to the ones chosen by --up (client → target) and --down
(target → client): each of these applies to the impairments after it, until the next one (--both
goes back to both). Percentages are 10%; durations 40ms, 1.5s, 250us; rates 1mbit, 100kbps;
sizes 1400, 64kb, 1mb. A bare number is refused where tools disagree on its unit (--loss 1,
--delay 5, --rate 1000).
TCP and UDP:
${BOTH_HELP}
UDP only (per datagram):
${faultHelp('udp')}
TCP only (stream faults; every byte read is forwarded unless a fault ends the stream — dropping
bytes from a stream is corruption, not loss):
${faultHelp('tcp')}
Which connections, which direction, which random choices:
      --up, --down, --both      the direction of the impairments after it (default both)
      --probability RATE        the chance that a connection (or flow) gets the impairments at
                                all (toxiproxy's toxicity), drawn once per connection
      --seed N                  seed of every random choice: the same seed replays the same
                                drops, duplicates and reorders (default: random, printed)
Limits:
      --buffer SIZE             memory held per direction per connection or flow, each packet
                                counted as its bytes + 256 (default 128mb on TCP, then the relay
                                stops reading; 4mb on UDP, then it drops datagrams and counts
                                them as overflowed)
      --memory SIZE             memory held by all connections and flows together, counted as
                                for --buffer (default 1gb, shared by every relay of the process):
                                once spent, a connection holding data stops reading and a UDP
                                datagram is dropped (overflowed), until some is free again
      --max-conns N             TCP connections at once (default 10000)
      --max-flows N             UDP flows at once (default 4096)
      --flow-idle DURATION      close a UDP flow idle for DURATION (default 60s)
Control and config:
      --api ADDRESS             serve the HTTP JSON control API (toxiproxy's shape) on ADDRESS,
                                e.g. 8474 (127.0.0.1): GET /relays; POST /relays/NAME/faults
                                {"type":"delay","params":{"delayMs":"50ms"}}; POST or DELETE
                                /relays/NAME/faults/FAULT; GET /relays/NAME/counters; POST /reset.
                                It prints "api on http://127.0.0.1:PORT". It answers only
                                requests with a Host naming it (127.0.0.1:PORT, localhost:PORT),
                                no Origin but its own, and bodies sent as application/json.
                                Beyond loopback (--api :8474) it prints a token, to send as
                                "Authorization: Bearer TOKEN".
      --api-allow-remote-listen
                                let relays created through the API listen beyond
                                loopback (default: only 127.0.0.1, ::1, localhost)
      --config FILE             relays from a JSON or YAML file: {seed?, api?, relays: [{name,
                                listen, upstream, faults: [{type, direction, params}]}]}
Other options:
      --name NAME               the relay's name (default relay)
  -u, --udp                     LISTEN and TARGET without a scheme are UDP
      --allow SPEC, --deny SPEC  who may connect (TCP) or send (UDP): an address, a CIDR range, a
                                host name; repeated options add up; deny wins (as ncat's)
      --allowfile FILE, --denyfile FILE
                                the same, specs separated by spaces or newlines
  -v, --verbose                 connection and flow events on stderr
  -h, --help                    this help
${TLS_SERVER_HELP.replace('TLS (for', 'TLS, LISTEN side (for')}
${TLS_CLIENT_HELP.replace('TLS (for', 'TLS, TARGET side (for')}

On Ctrl-C the relay prints what it did, per direction: forwarded, dropped, duplicated,
reordered, corrupted, delayed, overflowed, truncated (datagrams or chunks, and bytes).

Examples:
  socklab relay udp://:9000 udp://127.0.0.1:9090 --loss 10% --delay 40ms --jitter 10ms --seed 7
  socklab relay 9000 127.0.0.1:8080 --down --delay 50ms --rate 1mbit
  socklab relay 9000 127.0.0.1:8080 --slice 100 --slice-delay 5ms --reset-after 64kb
  socklab relay -u 5353 127.0.0.1:53 --loss "gemodel 1% 30%" --duplicate 1%
  socklab relay 9000 127.0.0.1:8080 --up --stall 5s --down --slow-close 2s --probability 50%
  socklab relay 9000 127.0.0.1:8080 --api 8474 --name web
      curl --json '{"type":"delay","params":{"delayMs":"50ms"}}' 127.0.0.1:8474/relays/web/faults
  socklab relay --config relays.yaml
  socklab relay tls://:8443 127.0.0.1:8080 --tls-cert site.pem --delay 20ms
  socklab relay 9000 tls://example.com:443                 plain TCP in, TLS out (verified)
  socklab relay unix:/tmp/app.sock 127.0.0.1:8080          a TCP service on a Unix socket

Exit status: 0 stopped · 1 cannot listen, cannot resolve TARGET, cannot read FILE · 2 bad usage
(or a bad config file) · 130 Ctrl-C.
A TARGET that refuses a connection does not stop the relay: that client is reset and the
reason printed, and the relay goes on serving the others. Out of file descriptors (ulimit -n),
refused by --max-conns or --max-flows: the first is printed, the others counted (a line every 10 s,
the total at exit).
`;

const OPTIONS = {
  up: { type: 'boolean' },
  down: { type: 'boolean' },
  both: { type: 'boolean' },
  probability: { type: 'string' },
  seed: { type: 'string' },
  buffer: { type: 'string' },
  memory: { type: 'string' },
  'max-conns': { type: 'string' },
  'max-flows': { type: 'string' },
  'flow-idle': { type: 'string' },
  name: { type: 'string' },
  api: { type: 'string' },
  'api-allow-remote-listen': { type: 'boolean' },
  config: { type: 'string' },
  udp: { type: 'boolean', short: 'u' },
  verbose: { type: 'boolean', short: 'v' },
  ...TLS_OPTIONS,
  allow: { type: 'string', multiple: true },
  allowfile: { type: 'string', multiple: true },
  deny: { type: 'string', multiple: true },
  denyfile: { type: 'string', multiple: true },
  ...Object.fromEntries(FAULT_FLAGS.map(({ flag }) => [flag.flag, { type: 'string' as const }])),
} as const;

export interface RelayCommandOptions {
  /** Relays from the command line (none with --config, or with --api alone). */
  readonly relays: readonly RelayOptions[];
  /** --config FILE: more relays, read when the command runs. */
  readonly configFile?: string;
  /** --api ADDRESS: serve the control API. */
  readonly api?: Endpoint;
  /** --api-allow-remote-listen: relays created through the API may listen beyond loopback. */
  readonly apiAllowRemoteListen?: boolean;
  readonly seed?: number;
  /** --memory SIZE: one budget for every relay this command runs. */
  readonly memoryBudgetBytes?: number;
  readonly verbose: boolean;
  /** --allow/--deny/--allowfile/--denyfile: who may use the relays (read when the command runs). */
  readonly access?: AccessSpecs;
}

export function parse(argv: readonly string[]): RelayCommandOptions {
  const { values: v, positionals, tokens } = parseCommandLine(argv, OPTIONS);
  const values: Record<string, string | boolean | string[] | undefined> = v;
  const str = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  const seedText = str('seed');
  const seed = seedText === undefined ? undefined : parseCount('--seed', seedText, 0, 0xffffffff);
  const memoryText = str('memory');
  const memoryBudgetBytes = memoryText === undefined ? undefined : parseSize('--memory', memoryText);
  if (memoryBudgetBytes !== undefined && memoryBudgetBytes < 1024 * 1024)
    throw faultError('--memory', `${memoryText} is below 1mb`);
  const memory = memoryBudgetBytes !== undefined ? { memoryBudgetBytes } : {};
  const configFile = str('config');
  const apiText = str('api');
  const api = apiText === undefined ? undefined : parseAddress(apiText, { role: 'listen' });
  if (api !== undefined && (api.transport !== 'tcp' || api.tls === true || api.path !== undefined))
    throw usageError(`--api: the API is HTTP, over TCP: not ${apiText}`);
  const apiAllowRemoteListen = v['api-allow-remote-listen'] === true;
  if (apiAllowRemoteListen && api === undefined && configFile === undefined)
    throw usageError('--api-allow-remote-listen is for relays created through the API: give --api ADDRESS');
  const apiFlags = {
    ...(api !== undefined ? { api } : {}),
    ...(apiAllowRemoteListen ? { apiAllowRemoteListen } : {}),
  };
  if (configFile !== undefined && positionals.length > 0) {
    throw usageError('--config FILE and LISTEN TARGET: give one (write this relay into the file)');
  }
  if (positionals.length === 0 && (configFile !== undefined || api !== undefined)) {
    const faultFlags = tokens.filter((t) => t.kind === 'option' && FLAG_OWNER.has(t.name));
    if (faultFlags.length > 0) {
      throw usageError(
        `--${(faultFlags[0] as { name: string }).name} needs LISTEN and TARGET (in a config file, write faults per relay)`,
      );
    }
    return {
      relays: [],
      ...(configFile !== undefined ? { configFile } : {}),
      ...apiFlags,
      ...(seed !== undefined ? { seed } : {}),
      ...memory,
      verbose: v.verbose === true,
      ...accessOf(v),
    };
  }
  if (positionals.length !== 2) {
    throw usageError(
      positionals.length < 2
        ? 'needs LISTEN and TARGET, e.g. socklab relay 9000 127.0.0.1:8080 (or --config FILE, or --api ADDRESS)'
        : `expected LISTEN and TARGET, got ${positionals.length} addresses`,
    );
  }
  const [listenText, targetText] = positionals as [string, string];
  const { listen, upstream } = readEndpoints(listenText, targetText, v.udp === true ? 'udp' : 'tcp');
  checkTlsFlags(v, { server: listen.tls === true, client: upstream.tls === true });
  const probabilityText = str('probability');
  const probability =
    probabilityText === undefined ? undefined : parseFraction('--probability', probabilityText);
  const faults = faultsFromFlags(tokens, listen.transport, probability);
  readFaults(faults, listen.transport, 'impairments'); // every other check, now, with exit 2
  const bufferText = str('buffer');
  const maxBufferedBytes = bufferText === undefined ? undefined : parseSize('--buffer', bufferText);
  if (maxBufferedBytes !== undefined && maxBufferedBytes < 65536)
    throw faultError('--buffer', `${bufferText} is below 64kb`);
  const conns = str('max-conns');
  const flows = str('max-flows');
  const idle = str('flow-idle');
  if (listen.transport === 'udp' && conns !== undefined)
    throw usageError('--max-conns is for TCP; use --max-flows for UDP');
  if (listen.transport === 'tcp' && (flows !== undefined || idle !== undefined)) {
    throw usageError(
      `${flows !== undefined ? '--max-flows' : '--flow-idle'} is for UDP flows; use --max-conns for TCP`,
    );
  }
  const flowIdleMs = idle === undefined ? undefined : parseDuration('--flow-idle', idle);
  if (flowIdleMs === 0) throw usageError('--flow-idle must be more than 0');
  return {
    relays: [
      {
        name: str('name') ?? 'relay',
        listen,
        upstream,
        faults,
        ...(listen.tls === true ? { listenTls: tlsServerFrom(v) } : {}),
        ...(upstream.tls === true ? { upstreamTls: tlsClientFrom(v) } : {}),
        ...(seed !== undefined ? { seed } : {}),
        ...(maxBufferedBytes !== undefined ? { maxBufferedBytes } : {}),
        ...(conns !== undefined ? { maxConnections: parseCount('--max-conns', conns, 1) } : {}),
        ...(flows !== undefined ? { maxFlows: parseCount('--max-flows', flows, 1) } : {}),
        ...(flowIdleMs !== undefined ? { flowIdleMs } : {}),
      },
    ],
    ...apiFlags,
    ...(seed !== undefined ? { seed } : {}),
    ...memory,
    verbose: v.verbose === true,
    ...accessOf(v),
  };
}

function accessOf(v: { allow?: string[]; allowfile?: string[]; deny?: string[]; denyfile?: string[] }): {
  access?: AccessSpecs;
} {
  const specs: AccessSpecs = {
    allow: v.allow ?? [],
    allowFiles: v.allowfile ?? [],
    deny: v.deny ?? [],
    denyFiles: v.denyfile ?? [],
  };
  return Object.values(specs).some((list: readonly string[]) => list.length > 0) ? { access: specs } : {};
}

/**
 * Text from others (a relay's name, an address as given) as it may be printed: controls, newlines
 * included, shown as '·'. Names are checked when relays are created; this is for what slips by.
 */
function shown(text: string): string {
  return sanitizeForTerminal(Buffer.from(text)).replace(/[\t\n\r]/g, '\u00b7');
}

/** How often a problem that repeats is summed up in a line (and once more in the summary at exit). */
export const REPEAT_REPORT_MS = 10_000;

export function watch(relay: Relay, io: Io, verbose: boolean): void {
  const prefix = relay.name === 'relay' ? 'relay' : `relay ${shown(relay.name)}`;
  const log = (line: string) => io.stderr.write(`${prefix}: ${shown(line)}\n`);
  // A problem that repeats (the same reason, for connection after connection) is said once, then counted.
  const reasons = new Map<string, RepeatReport>();
  const byReason = (reason: string, more: (n: number) => string, first: () => string) => {
    let report = reasons.get(reason);
    if (report === undefined) reasons.set(reason, (report = sayOnceThenCount(log, REPEAT_REPORT_MS)));
    report(first, more);
  };
  const tcp = relay.transport === 'tcp';
  const word = tcp ? 'connection' : 'flow';
  const what = tcp ? 'connections reset' : 'datagrams dropped';
  relay.on('upstreamError', (link, error) =>
    byReason(
      `upstream ${error.message}`,
      (n) => `${n} more in the last ${REPEAT_REPORT_MS / 1000} s: ${error.message}`,
      () => `${error.message} (${word} #${link.id} from ${link.peer})`,
    ),
  );
  const noDescriptors = sayOnceThenCount(log, REPEAT_REPORT_MS);
  relay.on('noDescriptors', (peer, code) =>
    noDescriptors(
      () =>
        `out of file descriptors (${code}): ${tcp ? `the connection from ${peer} was reset` : `a datagram from ${peer} was dropped`}; raise ulimit -n (${tcp ? 'each connection takes two' : 'each flow takes one'}). Further ones are counted`,
      (n) =>
        `out of file descriptors: ${n} more ${what} in the last ${REPEAT_REPORT_MS / 1000} s (raise ulimit -n)`,
    ),
  );
  relay.on('refused', (peer, reason) =>
    byReason(
      `refused ${reason}`,
      (n) => `refused ${n} more in the last ${REPEAT_REPORT_MS / 1000} s: ${reason}`,
      () => `refused ${peer}: ${reason} (further ones are counted)`,
    ),
  );
  if (!verbose) return;
  relay.on('open', (link) => log(`${word} #${link.id} from ${link.peer}`));
  relay.on('close', (link) => {
    const bytes = link.bytesUp !== undefined ? `: ${link.bytesUp} bytes up, ${link.bytesDown ?? 0} down` : '';
    log(
      `closed ${word} #${link.id} from ${link.peer}${bytes}${link.error !== undefined ? ` (${link.error})` : ''}`,
    );
  });
}

export function describeStart(relay: Relay): string {
  const faults = relay.describeFaults();
  return shown(
    `relay ${relay.name === 'relay' ? '' : `${relay.name} `}${formatAddress(relay.address())} → ${formatAddress(
      relay.upstream,
    )}: ${faults.length > 0 ? faults.join('; ') : 'no faults'} (seed ${relay.seed})`,
  );
}

export function describeEnd(relay: Relay): string {
  const stats = relay.stats();
  const counters = relay.counters();
  const word = relay.transport === 'tcp' ? 'connections' : 'flows';
  return [
    `relay${relay.name === 'relay' ? '' : ` ${shown(relay.name)}`}: ${stats.total} ${word}, ${stats.refused} refused, ${stats.upstreamErrors} upstream errors${
      relay.transport === 'udp' ? `, ${stats.expired} expired` : ''
    }${
      stats.noDescriptors > 0
        ? `, ${stats.noDescriptors} ${relay.transport === 'tcp' ? 'connections reset' : 'datagrams dropped'} for lack of file descriptors`
        : ''
    }`,
    `  up:   ${describeCounters(counters.up)}`,
    `  down: ${describeCounters(counters.down)}`,
  ].join('\n');
}

/** The budget's line at exit, if it was ever spent. */
export function describeBudget(budget: MemoryBudget): string | undefined {
  const { paused, dropped } = budget.hits;
  if (paused === 0 && dropped === 0) return undefined;
  return `relay: the memory budget (${formatSize(budget.limitBytes)}, --memory) was spent: ${paused} reads held back, ${dropped} datagrams dropped`;
}

export async function run(options: RelayCommandOptions, io: Io): Promise<number> {
  const registry = new RelayRegistry();
  const budget = new MemoryBudget(options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES);
  let api: ApiServer | undefined;
  const started = (relay: Relay) => {
    watch(relay, io, options.verbose);
    io.stderr.write(`${describeStart(relay)}\n`);
    io.stderr.write(`listening on ${formatAddress(relay.address())}\n`);
  };
  registry.on('add', started);
  registry.on('remove', (relay) => io.stderr.write(`${describeEnd(relay)}\n`));
  try {
    const access = options.access !== undefined ? await buildAccessControl(options.access) : undefined;
    const config = options.configFile !== undefined ? await loadConfig(options.configFile) : undefined;
    for (const relay of [...options.relays, ...(config?.relays ?? [])]) {
      // --seed wins over a config file's seeds.
      const seed = options.seed ?? relay.seed;
      // A certificate made here rather than in the relay, so that -v can show its fingerprint.
      const listenTls =
        relay.listenTls !== undefined && relay.listenTls.cert === undefined
          ? await tlsServerIdentity(relay.listenTls).then((id) => {
              if (options.verbose) {
                io.stderr.write(`relay: TLS certificate: self-signed (temporary), ${id.subject}\n`);
                io.stderr.write(`relay: TLS certificate SHA-256 fingerprint: ${id.fingerprint256}\n`);
              }
              return { ...relay.listenTls, cert: id.cert, key: id.key };
            })
          : relay.listenTls;
      await registry.create({
        ...relay,
        ...(listenTls !== undefined ? { listenTls } : {}),
        ...(seed !== undefined ? { seed } : {}),
        memoryBudget: budget,
        ...(access !== undefined ? { access } : {}),
        signal: io.signal,
      });
    }
    const apiAt = options.api ?? config?.api;
    if (apiAt !== undefined) {
      api = await serveApi({
        registry,
        listen: apiAt,
        version: version(),
        signal: io.signal,
        ...(options.apiAllowRemoteListen === true ? { allowRemoteListen: true } : {}),
        log: (line) => io.stderr.write(`api: ${line}\n`),
      });
      io.stderr.write(`api on ${api.url}\n`);
      if (api.token !== undefined) {
        io.stderr.write(
          `api token: ${api.token} (the API listens on ${formatAddress(api.address())}, beyond loopback: ` +
            `requests need "Authorization: Bearer TOKEN")\n`,
        );
      }
    }
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      else io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await api?.close();
    await registry.closeAll();
    for (const relay of registry.list()) io.stderr.write(`${describeEnd(relay)}\n`);
    const spent = describeBudget(budget);
    if (spent !== undefined) io.stderr.write(`${spent}\n`);
  }
  return 0;
}
