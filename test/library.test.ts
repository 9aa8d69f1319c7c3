/**
 * "Everything the CLI does is a typed function of the library": each command has its functions
 * in the public API (src/index.ts), and they run from there.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as socklab from '../src/index.js';

test('every command has its library functions in the public API', () => {
  const byCommand: Record<string, readonly (keyof typeof socklab)[]> = {
    listen: ['listenTcp', 'listenUdp', 'print', 'echo', 'reply', 'chat', 'welcome', 'exitWord', 'save'],
    connect: ['connectTcp', 'openUdp', 'runClientSession'],
    get: ['httpGet', 'httpGetStream'],
    demo: ['runDemo', 'textNarrator'],
    relay: ['createRelay', 'serveApi', 'loadConfig'],
    bench: ['startBenchServer', 'runThroughput', 'runPingPong', 'throughputTable', 'pingPongTable'],
    compare: ['compare', 'renderReport'],
    link: ['createLink', 'describeLinkCounters'],
  };
  for (const [command, names] of Object.entries(byCommand)) {
    for (const name of names) assert.equal(typeof socklab[name], 'function', `${command}: ${name}`);
  }
});

test('runDemo() runs the narrated tour silently and returns the facts it measured', async () => {
  const facts = await socklab.runDemo({ signal: AbortSignal.timeout(30_000) });
  assert.equal(facts.host, '127.0.0.1');
  assert.ok(facts.durationMs > 0);
  assert.ok(facts.promises !== undefined);
});
