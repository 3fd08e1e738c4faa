import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MayflyError, PermanentFailure } from '../../core/domain/errors.js';
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

/**
 * A registry that accepts the connection and then never answers (a stuck proxy, a registry out of
 * disk): without a limit the pull, and the environment's provisioning, would hang until the job
 * lock's stall check, again and again. MAYFLY_PULL_TIMEOUT ends it with a reason.
 */
describe('a registry that never answers a pull', () => {
  it('when the pull outlasts MAYFLY_PULL_TIMEOUT, then it fails with IMAGE_PULL_TIMEOUT naming the image and the setting, and the engine pulls again after it', { timeout: 120_000 }, async () => {
    const held: import('node:http').ServerResponse[] = [];
    // A loopback stand-in: it answers the API version check, then holds every other request open.
    const stuck = createServer((req, res) => {
      if (req.url === '/v2/' || req.url === '/v2') {
        res.writeHead(200, { 'Docker-Distribution-API-Version': 'registry/2.0', 'content-type': 'application/json' });
        res.end('{}');
        return;
      }
      held.push(res);
    });
    await new Promise<void>((resolve) => stuck.listen(0, '127.0.0.1', resolve));
    const port = (stuck.address() as AddressInfo).port;
    const runtime = new DockerRuntime(new Docker(), 'mayfly-pull-timeout-test', undefined, undefined, undefined, 2_000);
    const image = `127.0.0.1:${port}/mayfly/stuck:main`;
    try {
      await assert.rejects(runtime.pull(image), (err: unknown) => {
        assert.ok(err instanceof MayflyError, `not a MayflyError: ${String(err)}`);
        assert.equal(err.code, 'IMAGE_PULL_TIMEOUT');
        assert.ok(err.message.includes(image) && err.message.includes('MAYFLY_PULL_TIMEOUT'), err.message);
        return true;
      });
      assert.ok(held.length >= 1, 'the pull reached the stuck registry');
      // The engine is not left stuck behind it: a pull from the real registry still completes.
      const pulled = await runtime.pull('127.0.0.1:5000/mayfly/debian:bookworm');
      assert.match(pulled.digest, /sha256:[0-9a-f]{64}/);
    } finally {
      for (const res of held) res.destroy();
      stuck.closeAllConnections();
      await new Promise((resolve) => stuck.close(resolve));
    }
  });
});
