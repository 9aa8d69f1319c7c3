/* global process */
/** The machine a run happened on, and the peer programs it compares with (installed if missing). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

const which = (program) =>
  spawnSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' }).status === 0;

export const PEERS = ['iperf3', 'sockperf', 'socat', 'hyperfine'];

/**
 * Install the missing peers with apt-get (apt-get update first if the install fails). Returns the
 * peers still missing afterwards: their figures will say so.
 */
export function ensurePeers(log) {
  const missing = PEERS.filter((p) => !which(p));
  if (missing.length === 0) return [];
  log(`peers missing: ${missing.join(', ')}: installing them with apt-get`);
  if (!which('apt-get')) {
    log('no apt-get on this machine: install them by hand');
    return missing;
  }
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const packages = ['iperf3', 'sockperf', 'socat', ...(missing.includes('hyperfine') ? ['hyperfine'] : [])];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => {
    const argv = [...sudo, 'apt-get', ...args];
    log(`$ ${argv.join(' ')}`);
    const r = spawnSync(argv[0], argv.slice(1), {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
      timeout: 600_000,
    });
    return r.status === 0;
  };
  if (!apt(['install', '-y', ...packages])) {
    apt(['update']);
    apt(['install', '-y', ...packages]);
  }
  return PEERS.filter((p) => !which(p));
}

const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const firstLine = (command, args, pattern = /\S/) => {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 5000 });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  return (
    text
      .split('\n')
      .map((l) => l.replaceAll(ANSI_COLOUR, '').trim())
      .find((l) => pattern.test(l)) ?? 'not installed'
  );
};

export function machineInfo() {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  const nproc =
    spawnSync('nproc', [], { encoding: 'utf8' }).stdout?.trim() || String(os.availableParallelism());
  return {
    nproc: Number(nproc),
    cpu,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    peers: {
      iperf3: firstLine('iperf3', ['--version'], /^iperf/),
      sockperf: firstLine('sockperf', ['--version'], /version/),
      socat: firstLine('socat', ['-V'], /^socat version/),
      hyperfine: firstLine('hyperfine', ['--version'], /^hyperfine/),
    },
  };
}
