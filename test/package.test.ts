/**
 * The lock file is committed as npm writes it, so `npm install` on a fresh clone leaves the tree
 * clean: its root entry says what package.json says (npm adds `hasInstallScript` for the native
 * addon's install script, and rewrites a lock that lacks it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url);
const read = (file: string) =>
  JSON.parse(readFileSync(new URL(file, root), 'utf8')) as Record<string, unknown>;

test('package-lock.json agrees with package.json as npm would write it', () => {
  const pkg = read('package.json') as {
    name: string;
    version: string;
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  const lock = read('package-lock.json') as { packages: Record<string, Record<string, unknown>> };
  const self = lock.packages[''];
  assert.ok(self, 'the lock has a root entry');
  assert.equal(self.name, pkg.name);
  assert.equal(self.version, pkg.version);
  const installs = ['preinstall', 'install', 'postinstall'].some((s) => pkg.scripts[s] !== undefined);
  assert.equal(self.hasInstallScript === true, installs, 'hasInstallScript');
  assert.deepEqual(self.dependencies, pkg.dependencies);
  assert.deepEqual(self.devDependencies, pkg.devDependencies);
});
