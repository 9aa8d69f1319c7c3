/**
 * How long benchmarks/relay.js may take, worked out from what it is asked to do, so that none of its
 * deadlines is a fixed number:
 *
 * - a run (one transfer through one variant: 512 MiB, or 200,000 echoes) may take its planned
 *   length at a deliberately slow rate (RATE, several times below what this project's 2-vCPU machine
 *   does) times FACTOR, plus RUN_SETUP_MS to start its process; its client stops itself then, and
 *   the process is killed BACKSTOP_MS later if it did not;
 * - the processes a section keeps for all its runs (sink, echo server, relays, socat) may live as
 *   long as every run they serve can take, in the worst case, plus SERVER_SETUP_MS for each process
 *   the section starts: they cannot reach their deadline while a run still needs them;
 * - relay.js itself (the relay figure's child) may take the sum of its sections.
 *
 * A run that stops making progress fails well before its budget: after STALL_MS without an echo
 * (UDP) or without a write completing or the sink answering (TCP). Only that variant fails; the
 * others go on.
 */

/** Rates the budgets are planned at: well below a healthy run, so a busy machine fits. */
export const RATE = {
  // measured here: 4 to 20 Gbit/s (500 to 2500 MB/s) through every TCP variant
  tcpBytesPerSecond: 200 * 2 ** 20,
  // 1 GiB with a SHA-256 at both ends and slicing in the relay: 449 MB/s measured
  gibBytesPerSecond: 100 * 2 ** 20,
  // 40 to 90 k echoes/s measured through every UDP variant
  udpEchoesPerSecond: 20_000,
};

/** How many times its planned length a run may take. */
export const FACTOR = 5;
/** Starting a run's client process (node) and connecting, on a busy machine. */
export const RUN_SETUP_MS = 5_000;
/** After its budget, a client that has not stopped itself is killed this much later. */
export const BACKSTOP_MS = 2_000;
/** proc.js's stop(): SIGTERM, then SIGKILL this much later. */
const KILL_GRACE_MS = 3_000;
/** Starting one long-lived process and seeing it ready (proc.js's waitFor() default: 10 s). */
export const SERVER_SETUP_MS = 10_000;
/** A run that gets no echo (UDP) or makes no progress (TCP) for this long has failed. */
export const STALL_MS = 3_000;
/** TCP's unmeasured first transfer through each variant, in MiB (at most the run's size). */
export const WARMUP_MIB = 64;

const budget = (amount, perSecond) => Math.ceil((amount / perSecond) * 1000 * FACTOR + RUN_SETUP_MS);

/** A run's budget (its client stops itself then), in ms. */
export const runBudgetMs = {
  tcp: (mib) => budget(mib * 2 ** 20, RATE.tcpBytesPerSecond),
  gib: (mib) => budget(mib * 2 ** 20, RATE.gibBytesPerSecond),
  udp: (datagrams) => budget(datagrams, RATE.udpEchoesPerSecond),
};

/** The longest a run can hold up its section: its budget, the backstop, and the kill's grace. */
const worstMs = (budgetMs) => budgetMs + BACKSTOP_MS + KILL_GRACE_MS;

/**
 * One section's plan: `{ runMs, runs, serverMs, variants }`. runMs: a measured run's budget;
 * runs: how many runs (measured and warm-up); serverMs: the deadline of the processes the section
 * keeps (and the section's own worst case).
 * @param {'tcp' | 'delay' | 'udp' | 'gib'} section ('delay': the TCP section without direct and socat)
 * @param {{ rounds: number, tcpMib: number, datagrams: number, gibMib: number }} options
 */
export function sectionPlan(section, { rounds, tcpMib, datagrams, gibMib }) {
  if (section === 'tcp' || section === 'delay') {
    const variants = section === 'tcp' ? 4 : 2; // direct, socat, relay, relay --delay
    const runMs = runBudgetMs.tcp(tcpMib);
    const warmupMs = runBudgetMs.tcp(Math.min(tcpMib, WARMUP_MIB));
    const servers = variants === 4 ? 4 : 3; // sink, socat, relay, relay --delay
    return {
      variants,
      runMs,
      warmupMs,
      runs: variants * (rounds + 1),
      serverMs: servers * SERVER_SETUP_MS + variants * (worstMs(warmupMs) + rounds * worstMs(runMs)),
    };
  }
  if (section === 'udp') {
    const variants = 4; // direct, socat, socklab relay, minimal relay
    const runMs = runBudgetMs.udp(datagrams);
    const servers = 4; // echo server, socat, socklab relay, minimal relay
    return {
      variants,
      runMs,
      runs: variants * rounds,
      serverMs: servers * SERVER_SETUP_MS + variants * rounds * worstMs(runMs),
    };
  }
  if (section === 'gib') {
    const runMs = runBudgetMs.gib(gibMib);
    return { variants: 1, runMs, runs: 1, serverMs: 2 * SERVER_SETUP_MS + worstMs(runMs) };
  }
  throw new Error(`unknown section ${section}`);
}

/** The most relay.js can take for `sections` (its own start and teardown included), in ms. */
export function relayBenchMs(sections, options) {
  return sections.reduce((sum, s) => sum + sectionPlan(s, options).serverMs, SERVER_SETUP_MS);
}

/** Seconds, for messages: "3 s", "1.5 s". */
export const seconds = (ms) => `${Number((ms / 1000).toFixed(1))} s`;
