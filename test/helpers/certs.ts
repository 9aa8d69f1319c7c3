/**
 * Certificates for the TLS tests, made the way people make them: `openssl req -x509` (EC P-256,
 * one day), with the subject and extensions (SANs) a test asks for.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findExecutable, runProcess } from './spawn.js';

export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/** `dir/NAME.pem` and `dir/NAME.key`: a self-signed certificate for `subject` (`/CN=localhost`). */
export async function opensslCert(
  dir: string,
  name: string,
  subject: string,
  addext: readonly string[] = [],
): Promise<TestCert> {
  const openssl = await findExecutable('openssl');
  assert.ok(openssl, 'openssl is needed to make test certificates');
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  const r = await runProcess(openssl, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    subject,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    ...addext.flatMap((e) => ['-addext', e]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  return { certFile, keyFile, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
}
