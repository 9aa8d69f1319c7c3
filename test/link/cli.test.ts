/**
 * socklab link's command line: bad input (one line, the right exit status, nothing left behind),
 * and the end of a run however it ends (COMMAND killed, Ctrl-C, SIGTERM, socklab killed).
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { BIN } from '../helpers/cli.js';
import { alive, linkSkipReason, outerNamespace, rootInterfaces, type Outer } from '../helpers/netns.js';
import { findExecutable, runProcess } from '../helpers/spawn.js';

const skip = await linkSkipReason();
if (skip) console.log(`# skipping the link tests: ${skip}`);

let outer: Outer;
let rootBefore: string[];
before(async () => {
  if (skip) return;
  rootBefore = await rootInterfaces();
  outer = await outerNamespace();
});
after(async () => {
  if (skip) return;
  await outer.close();
  assert.deepEqual(await rootInterfaces(), rootBefore, "the machine's own interfaces are as they were");
});

const BAD: [string, string[], number, RegExp][] = [
  ['an unknown impairment', ['--slice', '10', '--', 'true'], 2, /unknown option '--slice'/],
  ['--loss 150%', ['--loss', '150%', '--', 'true'], 2, /--loss: '150%' is out of range/],
  ['--rate 0', ['--rate', '0mbit', '--', 'true'], 2, /--rate: '0mbit' is too slow/],
  ['--reorder without --delay', ['--reorder', '10%', '--', 'true'], 2, /--reorder needs --delay/],
  ['no COMMAND', ['--delay', '5ms'], 2, /needs -- COMMAND/],
  [
    '--offload with --loss',
    ['--offload', '--loss', '1%', '--', 'true'],
    2,
    /with offload a packet may be a 64 KiB TCP segment/,
  ],
  [
    '--offload with --no-offload',
    ['--offload', '--no-offload', '--', 'true'],
    2,
    /--offload and --no-offload: choose one/,
  ],
  ['COMMAND without --', ['--delay', '5ms', 'ping'], 2, /put COMMAND after --/],
  [
    'a COMMAND that does not exist',
    ['--', 'no-such-command-socklab'],
    127,
    /cannot run 'no-such-command-socklab': command not found/,
  ],
];

for (const [what, args, status, message] of BAD) {
  test(`${what}: exit ${status}, one line, nothing left behind`, { skip }, async () => {
    const r = await outer.link(args);
    assert.equal(r.code, status, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await outer.interfaces(), ['lo']);
  });
}

test("COMMAND's exit status is socklab's; stdin and stdout are COMMAND's", { skip }, async () => {
  const r = await outer.link(['-q', '--', 'sh', '-c', 'cat; echo "peer=$SOCKLAB_LINK_PEER"; exit 3'], {
    input: 'through\n',
  });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /^through\npeer=198\.(18|19)\.\d+\.\d+\n$/);
  assert.equal(r.stderr, '');
});

test('inside, only the link: lo and link0, a route to the /30 only', { skip }, async () => {
  // `ip route get` asks the routing table and sends nothing.
  const r = await outer.link(['-q', '--', 'sh', '-c', 'ip -br link; ip route; ip route get 198.51.100.1']);
  assert.notEqual(r.code, 0, 'nothing beyond the link has a route');
  const names = r.stdout
    .split('\n')
    .filter((l) => /^\S+\s+(UP|DOWN|UNKNOWN)/.test(l))
    .map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(names, ['lo', 'link0']);
  const routes = r.stdout.split('\n').filter((l) => /dev link0/.test(l));
  assert.equal(routes.length, 1, r.stdout);
  assert.match(routes[0]!, /^198\.(18|19)\.\d+\.\d+\/30 dev link0/);
  assert.match(r.stderr + r.stdout, /unreachable/i);
});

test('--realtime: socklab under SCHED_FIFO, COMMAND as usual', { skip }, async () => {
  const r = await outer.link(['-q', '--realtime', '--', 'sh', '-c', 'chrt -p $$; chrt -p $PPID']);
  assert.equal(r.code, 0, r.stderr);
  const [command, parent] = r.stdout.split(/(?=pid \d+'s current scheduling policy)/);
  assert.match(command!, /policy: SCHED_OTHER/, 'COMMAND runs as usual (reset on fork)');
  assert.match(parent ?? '', /policy: SCHED_FIFO\|SCHED_RESET_ON_FORK\n.*priority: 10/, 'socklab itself');
});

/** Start `socklab link -- sh -c 'echo $$; exec sleep 30'` and wait for COMMAND's pid. */
async function startSleeper(): Promise<{ proc: ReturnType<Outer['start']>; pid: number }> {
  const proc = outer.start(process.execPath, [BIN, 'link', '--', 'sh', '-c', 'echo $$; exec sleep 30']);
  await proc.waitFor(/^\d+\n/, 'stdout', 15_000);
  const pid = Number(proc.stdout().trim());
  assert.ok(alive(pid));
  return { proc, pid };
}

for (const [signal, status] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(
    `${signal} to socklab: COMMAND stopped, counters printed, exit ${status}, nothing left behind`,
    { skip },
    async () => {
      const { proc, pid } = await startSleeper();
      const r = await proc.stop(signal);
      assert.equal(r.code, status, r.stderr);
      assert.match(r.stderr, /up \(inside → outside\)/);
      assert.ok(!alive(pid), 'COMMAND is gone');
      assert.deepEqual(await outer.interfaces(), ['lo']);
    },
  );
}

test('COMMAND killed: exit 137, nothing left behind', { skip }, async () => {
  const { proc, pid } = await startSleeper();
  process.kill(pid, 'SIGKILL');
  const r = await proc.exited(15_000);
  assert.equal(r.code, 137, r.stderr);
  assert.deepEqual(await outer.interfaces(), ['lo']);
});

test('socklab itself killed (SIGKILL): COMMAND dies with it, the devices go', { skip }, async () => {
  const { proc, pid } = await startSleeper();
  proc.child.kill('SIGKILL');
  await proc.exited(5_000);
  // The parent-death signal and the closed descriptors act at once, but asynchronously.
  for (let i = 0; i < 100 && (alive(pid) || (await outer.interfaces()).length > 1); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(!alive(pid), 'COMMAND is gone');
  assert.deepEqual(await outer.interfaces(), ['lo']);
});

/** Run as nobody (uid 65534): what a user without root gets. */
async function asNobody(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const setpriv = await findExecutable('setpriv');
  assert.ok(setpriv);
  // Coverage files are root's to write, and Node gives NODE_V8_COVERAGE to every child it spawns
  // while coverage is on: `env -u` takes it away again.
  return runProcess(
    'env',
    [
      '-u',
      'NODE_V8_COVERAGE',
      setpriv,
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      BIN,
      'link',
      ...args,
    ],
    { env: { ...process.env, ...env }, cwd: '/', timeoutMs: 30_000 },
  );
}

const userns = skip ?? (await runProcess('unshare', ['--user', '--map-root-user', '--net', 'true'])).code;
// Inside a user namespace, socklab is root over nothing of the machine's: it opens /dev/net/tun
// as the user it is, so the device must be open to everyone (0666, as on most distributions; some
// machines keep it 0600, root's only, and there a user has no link: the next test's one line).
const tunOpenToAll = (() => {
  try {
    return (statSync('/dev/net/tun').mode & 0o006) === 0o006;
  } catch {
    return false;
  }
})();
const noUserns =
  typeof userns === 'string'
    ? userns
    : userns !== 0
      ? 'this kernel refuses unprivileged user namespaces'
      : !tunOpenToAll
        ? '/dev/net/tun is not open to users here (mode 0600): a user namespace cannot use it'
        : undefined;

test('not root: the link runs inside a user namespace of its own', { skip: noUserns }, async () => {
  const r = await asNobody(['--delay', '10ms', '--', 'sh', '-c', 'ping -n -c 3 -i 0.1 "$SOCKLAB_LINK_PEER"']);
  assert.equal(r.code, 0, r.stderr);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  assert.equal(rtts.length, 3, r.stdout);
  assert.ok(Math.min(...rtts) >= 20, rtts.join(', '));
  assert.match(r.stderr, /up \(inside → outside\): 3 packets in, 3 forwarded/);
});

test('not root and no user namespace: exit 1 with one line saying what is missing', { skip }, async () => {
  const r = await asNobody(['--', 'true'], { SOCKLAB_LINK_USERNS: '0' });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^socklab link: cannot make the link: not root, and no user namespace .*run as root/,
  );
});
