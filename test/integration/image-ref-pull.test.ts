import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { PermanentFailure } from '../../core/domain/errors.js';
import { DockerRuntime } from '../../worker/runtime/docker/docker-runtime.js';

/**
 * The request validation refuses a malformed digest before anything is recorded; this is the
 * second line: should a reference the engine refuses reach a pull anyway (an older row, a
 * template edited in place), the engine's 400 fails the environment at once instead of being
 * retried as if the registry were down.
 */
describe('a reference the Docker engine refuses', () => {
  const docker = new Docker();
  const runtime = new DockerRuntime(docker, 'mayfly-image-ref-test');
  const cases: [string, string][] = [
    ['a digest of 63 hex digits', `127.0.0.1:5000/mayfly/shop@sha256:${'a'.repeat(63)}`],
    ['a digest of 64 upper-case hex digits', `127.0.0.1:5000/mayfly/shop@sha256:${'A'.repeat(64)}`],
    ['a reference with upper case in its path', '127.0.0.1:5000/mayfly/Shop:main'],
  ];
  for (const [what, image] of cases) {
    it(`when a pull asks for ${what}, then it fails at once as a PermanentFailure INVALID_IMAGE_REF`, { timeout: 30_000 }, async () => {
      await assert.rejects(runtime.pull(image), (err: unknown) => {
        assert.ok(err instanceof PermanentFailure, `not permanent: ${String(err)}`);
        assert.equal(err.code, 'INVALID_IMAGE_REF');
        assert.ok(err.message.includes(image), err.message);
        return true;
      });
    });
  }
});
