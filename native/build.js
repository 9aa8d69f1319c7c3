#!/usr/bin/env node
/* global process, console */
/**
 * `npm install` runs this: build the native addons with node-gyp: batched UDP (native/udp_batch.c)
 * and TUN devices for `socklab link` (native/tun.c).
 *
 * The UDP addon is an optimisation: without it socklab runs on node:dgram; without the TUN one,
 * `socklab link` says it is missing. So a machine without a compiler, or not Linux, gets a
 * one-line note and a successful install — unless SOCKLAB_REQUIRE_NATIVE=1 (CI sets it), which
 * makes a failed build fail the install.
 */
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.SOCKLAB_REQUIRE_NATIVE === '1';

function skip(why) {
  if (required) {
    console.error(`socklab: the native addons did not build (${why}), and SOCKLAB_REQUIRE_NATIVE=1`);
    process.exit(1);
  }
  console.error(
    `socklab: native addons not built (${why}); UDP uses node:dgram, socklab link is unavailable`,
  );
  process.exit(0);
}

if (process.platform !== 'linux') skip(`recvmmsg/sendmmsg are Linux-only, this is ${process.platform}`);
if (process.env.SOCKLAB_NATIVE === '0') skip('SOCKLAB_NATIVE=0');

// npm hands its own node-gyp to install scripts; outside npm, try the one on PATH.
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(command, args, { cwd: here, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.error) skip(`${command}: ${r.error.message}`);
if (r.status !== 0) {
  const lines = (r.stderr ?? '').split('\n').filter((l) => /error|ERR!/i.test(l));
  if (required) console.error(r.stderr);
  skip(lines.slice(0, 2).join(' / ') || `node-gyp exited with ${r.status}`);
}
