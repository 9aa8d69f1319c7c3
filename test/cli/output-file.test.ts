/** `-o FILE`: a failed write is reported by close(), whatever the moment close() is called. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputFile } from '../../src/cli/output-file.js';

test('close() called between a failed write and its error event still reports the failure', async () => {
  const file = await OutputFile.open('/dev/full');
  // The write's callback runs with the error, then the stream is destroyed in the same turn; its
  // 'error' event comes only after the file is closed. A microtask from the callback lands between.
  const outcome = await new Promise<string>((resolve) => {
    file.stream.write(Buffer.alloc(4096), () =>
      queueMicrotask(() => {
        assert.ok(file.stream.destroyed, 'the window this test is about');
        file.close().then(
          () => resolve('closed without an error'),
          (err: Error) => resolve(err.message),
        );
      }),
    );
  });
  assert.equal(outcome, 'cannot write /dev/full: no space left on device (ENOSPC)');
});

test('close() after the error event reports it too', async () => {
  const file = await OutputFile.open('/dev/full');
  await new Promise((resolve) => file.stream.once('error', resolve).write(Buffer.alloc(4096)));
  await assert.rejects(file.close(), { code: 'SOCKLAB_ERR_FILE' });
});
