/* global process, setTimeout, clearTimeout */
/**
 * Child processes for the benchmarks: every one started with a deadline, optionally pinned to a
 * CPU (`taskset -c`) and given a raised descriptor limit (`prlimit --nofile`), and stopped by its
 * PID (SIGTERM, then SIGKILL after a grace period). Each child leads its own process group, so a
 * stop also reaches what it forked (socat's fork children, a wrapper's child); nothing is ever
 * looked up or killed by name.
 *
 * Output is kept (the last MAX_KEPT characters of each stream, enough for any JSON report, while a
 * child that floods stderr cannot exhaust memory) and can be waited on with a regex.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const MAX_KEPT = 4 << 20;
const live = new Set();

/** Quote one argument for the command lines shown in the report (they are meant to be pasted). */
export const shellQuote = (arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

let nofileLimit;
/** The highest descriptor limit a child can get: 65536, or the hard limit if that is lower. */
export function maxNofile() {
  if (nofileLimit === undefined) {
    const r = spawnSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
    const hard = r.stdout.trim();
    nofileLimit = hard === 'unlimited' ? 65536 : Math.min(65536, Number(hard) || 1024);
  }
  return nofileLimit;
}

/**
 * Start `command args`.
 * @param {string} command
 * @param {string[]} args
 * @param {{ cpu?: string, nofile?: boolean, deadlineMs?: number, stdin?: number | 'ignore',
 *           env?: Record<string, string> }} [options]
 *   cpu: `taskset -c CPU`; nofile: `prlimit --nofile=N:N` (N from maxNofile());
 *   deadlineMs: stopped (SIGTERM, then SIGKILL) when it runs longer (default 120 s);
 *   stdin: a file descriptor to read from (the child gets its own copy).
 */
export function start(command, args, options = {}) {
  const { cpu, nofile = false, deadlineMs = 120_000, stdin = 'ignore' } = options;
  const argv = [command, ...args];
  if (nofile) argv.unshift('prlimit', `--nofile=${maxNofile()}:${maxNofile()}`);
  if (cpu !== undefined) argv.unshift('taskset', '-c', cpu);
  const commandLine = argv.map(shellQuote).join(' ');
  const child = spawn(argv[0], argv.slice(1), {
    stdio: [stdin, 'pipe', 'pipe'],
    detached: true, // its own process group: stop() reaches whatever it forked
    env: options.env ? { ...process.env, ...options.env } : process.env,
  });
  const startedAt = performance.now();
  const kept = { stdout: '', stderr: '' };
  const listeners = new Set();
  for (const name of ['stdout', 'stderr']) {
    child[name].setEncoding('utf8');
    child[name].on('data', (chunk) => {
      kept[name] += chunk;
      if (kept[name].length > 2 * MAX_KEPT) kept[name] = kept[name].slice(-MAX_KEPT);
      for (const listener of listeners) listener(name, chunk.length);
    });
  }
  let closed = false;
  const proc = {
    pid: child.pid,
    commandLine,
    startedAt,
    stdout: () => kept.stdout,
    stderr: () => kept.stderr,
    /** Send a signal to the child's process group (its PID, negated); false if it is gone. */
    signal(sig) {
      if (closed || child.pid === undefined) return false;
      try {
        process.kill(-child.pid, sig);
        return true;
      } catch {
        try {
          return child.kill(sig);
        } catch {
          return false;
        }
      }
    },
    /** SIGTERM (or `sig`), then SIGKILL after graceMs; resolves with the exit. */
    async stop(sig = 'SIGTERM', graceMs = 3000) {
      if (!closed) {
        proc.signal(sig);
        const timer = setTimeout(() => proc.signal('SIGKILL'), graceMs);
        await proc.exited;
        clearTimeout(timer);
      }
      return proc.exited;
    },
    /**
     * Wait until `pattern` matches the kept output of `stream` ('stdout', 'stderr' or 'any'); resolves
     * with the match. Rejects, with the child's last output, on timeout or if the child exits first.
     */
    waitFor(pattern, { stream = 'any', timeoutMs = 10_000 } = {}) {
      const streams = stream === 'any' ? ['stdout', 'stderr'] : [stream];
      const find = (names, tail) => {
        for (const name of names) {
          const text = tail === undefined ? kept[name] : kept[name].slice(-(tail + 8192));
          const m = pattern.exec(text);
          if (m) return m;
        }
        return undefined;
      };
      return new Promise((resolve, reject) => {
        const now = find(streams);
        if (now) return resolve(now);
        let timer;
        const done = (fn, value) => {
          clearTimeout(timer);
          listeners.delete(onData);
          child.off('close', onClose);
          fn(value);
        };
        const onData = (name, length) => {
          if (!streams.includes(name)) return;
          const m = find([name], length);
          if (m) done(resolve, m);
        };
        const onClose = () => {
          const m = find(streams);
          if (m) done(resolve, m);
          else
            done(
              reject,
              new Error(`${describe(commandLine)} exited without printing ${pattern}${lastWords()}`),
            );
        };
        timer = setTimeout(
          () =>
            done(
              reject,
              new Error(
                `${describe(commandLine)} did not print ${pattern} within ${timeoutMs} ms${lastWords()}`,
              ),
            ),
          timeoutMs,
        );
        listeners.add(onData);
        child.on('close', onClose);
        if (closed) onClose();
      });
    },
    exited: undefined,
  };
  const lastWords = () => {
    const text = (kept.stderr.trim() || kept.stdout.trim()).split('\n').slice(-3).join(' | ');
    return text ? `: ${text.slice(-300)}` : '';
  };
  proc.lastWords = lastWords;
  live.add(proc);
  const deadline = setTimeout(() => {
    proc.timedOut = true;
    void proc.stop();
  }, deadlineMs);
  proc.exited = new Promise((resolve) => {
    let exit = { code: null, signal: null, ms: NaN };
    // 'exit' comes when the child itself ends; 'close' when its output pipes are closed too, which
    // a forked grandchild holding them could delay: what it left behind is killed at 'exit'.
    child.on('exit', (code, sig) => {
      exit = { code, signal: sig, ms: performance.now() - startedAt };
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    });
    const finish = () => {
      if (closed) return;
      closed = true;
      proc.closed = true;
      proc.exitStatus = exit.code ?? exit.signal ?? 'unknown'; // what a message says of a child gone
      clearTimeout(deadline);
      live.delete(proc);
      resolve({
        ...exit, // ms: from spawn to the child's exit
        stdout: kept.stdout,
        stderr: kept.stderr,
        timedOut: proc.timedOut === true,
      });
    };
    child.on('close', finish);
    child.on('error', (err) => {
      kept.stderr += `\n${err.message}`;
      finish();
    });
  });
  return proc;
}

/** A short name for error messages: the program and its first arguments. */
function describe(commandLine) {
  const words = commandLine.replace(/^taskset -c \S+ /, '').replace(/^prlimit \S+ /, '');
  return words.length > 80 ? `${words.slice(0, 77)}...` : words;
}

/** Run to completion; resolves with the exit (rejects if it exits non-zero, unless allowed). */
export async function run(command, args, options = {}) {
  const proc = start(command, args, options);
  const result = await proc.exited;
  if (!options.allowFailure && (result.code !== 0 || result.timedOut))
    throw new Error(
      `${describe(proc.commandLine)} ${result.timedOut ? 'timed out' : `failed (${result.code ?? result.signal})`}${proc.lastWords()}`,
    );
  return { ...result, commandLine: proc.commandLine };
}

/** Stop every child still running (on exit, Ctrl-C, or a figure that threw). */
export async function stopAll() {
  await Promise.all([...live].map((p) => p.stop('SIGTERM', 1000)));
}

/** SIGKILL every child's group at once, synchronously (for process 'exit'). */
export function killAllNow() {
  for (const p of live) p.signal('SIGKILL');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Wait until something listens on 127.0.0.1:port (TCP, state LISTEN) or has bound it (UDP), read
 * from /proc/net: for the peers that cannot report a port (socat, iperf3 -s, sockperf sr).
 */
export async function waitForPort(port, protocol = 'tcp', { timeoutMs = 5000, proc } = {}) {
  const deadline = performance.now() + timeoutMs;
  while (!portInUse(port, protocol, true)) {
    if (proc?.closed) throw new Error(`${describe(proc.commandLine)} exited${proc.lastWords()}`);
    if (performance.now() > deadline) {
      const more = proc ? proc.lastWords() : '';
      throw new Error(
        `nothing ${protocol === 'tcp' ? 'listening' : 'bound'} on port ${port} after ${timeoutMs} ms${more}`,
      );
    }
    await sleep(10);
  }
}

/** Is a local TCP port listening (listenOnly) or used at all, or a UDP port bound? */
export function portInUse(port, protocol = 'tcp', listenOnly = false) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of protocol === 'tcp'
    ? ['/proc/net/tcp', '/proc/net/tcp6']
    : ['/proc/net/udp', '/proc/net/udp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || !fields[1].endsWith(hex)) continue;
      if (protocol === 'udp' || !listenOnly || fields[3] === '0A') return true;
    }
  }
  return false;
}

/** Fail early, with a clear message, if a fixed port is already taken (a leftover peer). */
export function assertPortFree(port, protocol = 'tcp') {
  if (portInUse(port, protocol, protocol === 'tcp'))
    throw new Error(`port ${port}/${protocol} is already in use (a leftover peer?)`);
}

/** Peak resident memory (VmHWM) and current (VmRSS) of a live process, in bytes. */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peak: kb('VmHWM'), rss: kb('VmRSS') };
}

/** Every live process in the process group led by pid (a server and the workers it forked). */
export function groupMembers(pid) {
  const members = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so count from its closing paren.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pid && state !== 'Z') members.push(Number(entry));
    } catch {
      // it exited while we looked
    }
  }
  return members;
}
