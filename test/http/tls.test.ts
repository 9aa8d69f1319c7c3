import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCertificateError, type ConnectionInfo } from '../../src/http/connection.js';
import { httpGet } from '../../src/http/get.js';
import { startHttpServer, startHttpsServer, startRawServer, TLS_FIXTURES } from '../helpers/http-servers.js';

const timeoutMs = 5_000;

test('https with the test CA: verified, SNI is the host name', async (t) => {
  const server = await startHttpsServer(t, (_req, res) => res.end('secret'));
  const connections: ConnectionInfo[] = [];
  const res = await httpGet(server.url('/', 'localhost'), {
    timeoutMs,
    ca: TLS_FIXTURES.ca,
    onConnect: (info) => connections.push(info),
  });
  assert.equal(res.body.toString(), 'secret');
  assert.equal(server.requests[0]?.servername, 'localhost');
  assert.equal(connections[0]?.tls?.authorized, true);
  assert.match(connections[0]?.tls?.protocol ?? '', /^TLSv1\.[23]$/);
});

test('https to an IP literal: verified against the IP in the certificate, no SNI', async (t) => {
  const server = await startHttpsServer(t, (_req, res) => res.end('by ip'));
  const res = await httpGet(server.url('/', '127.0.0.1'), { timeoutMs, ca: TLS_FIXTURES.ca });
  assert.equal(res.body.toString(), 'by ip');
  assert.equal(server.requests[0]?.servername, false, 'no SNI for an IP literal');
});

test('https without the CA: a TLS error saying why, flagged as a certificate problem', async (t) => {
  const server = await startHttpsServer(t, (_req, res) => res.end('never'));
  const url = server.url('/', 'localhost');
  const err = await httpGet(url, { timeoutMs }).then(
    () => assert.fail('should not be trusted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof Error);
  assert.equal((err as { code?: string }).code, 'SOCKLAB_ERR_TLS');
  assert.equal(
    err.message,
    `cannot verify the certificate of ${url}: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
  );
  assert.equal(isCertificateError(err), true);
  assert.equal(server.requests.length, 0, 'no request was sent to an unverified server');
});

test('insecure: connects without verification, and says so', async (t) => {
  const server = await startHttpsServer(t, (_req, res) => res.end('unverified'));
  const connections: ConnectionInfo[] = [];
  const res = await httpGet(server.url('/', 'localhost'), {
    timeoutMs,
    insecure: true,
    onConnect: (info) => connections.push(info),
  });
  assert.equal(res.body.toString(), 'unverified');
  assert.equal(connections[0]?.tls?.authorized, false);
  assert.equal(connections[0]?.tls?.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('https:// to a plain HTTP port: a TLS error with a hint', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end('plain'));
  await assert.rejects(httpGet(`https://127.0.0.1:${server.port}/`, { timeoutMs }), {
    code: 'SOCKLAB_ERR_TLS',
    message: `TLS handshake with https://127.0.0.1:${server.port}/ failed: wrong version number (ERR_SSL_WRONG_VERSION_NUMBER) (does this port speak plain http://?)`,
  });
});

test('a server that accepts but never answers the handshake: a timeout, not a hang', async (t) => {
  // The raw peer waits for a request head that never comes: the client's ClientHello is not one.
  const server = await startRawServer(t, () => undefined);
  await assert.rejects(httpGet(`https://127.0.0.1:${server.port}/`, { timeoutMs: 200 }), {
    code: 'SOCKLAB_ERR_TIMEOUT',
    message: `TLS handshake with https://127.0.0.1:${server.port}/: no answer within 200 ms`,
  });
});
