import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { DockerSnapshotEngine } from '../../worker/runtime/docker/snapshot-engine.js';
import type { DatabaseSpec } from '../../worker/seeds/engine.js';

const registry = process.env.MAYFLY_REGISTRY ?? '127.0.0.1:5000';
const db: DatabaseSpec = {
  image: `${registry}/mayfly/postgres:15`,
  environment: { POSTGRES_USER: 'shop', POSTGRES_PASSWORD: 'shop', POSTGRES_DB: 'shop' },
  dataTarget: '/var/lib/postgresql/data',
  healthcheck: { test: ['CMD', 'pg_isready', '-q', '-h', '127.0.0.1', '-U', 'shop', '-d', 'shop'], intervalMs: 500, retries: 240 },
  user: 'shop',
  name: 'shop',
};

describe('golden snapshot builders of two installations on one Docker host', () => {
  const docker = new Docker();
  const suffix = randomBytes(4).toString('hex');
  const instances = [`test-gb-a-${suffix}`, `test-gb-b-${suffix}`];
  after(async () => {
    for (const instance of instances) {
      const filters = { label: [`mayfly.instance=${instance}`] };
      for (const c of await docker.listContainers({ all: true, filters })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
    }
  });

  it('when both build the same golden key at once, then neither removes the other\'s builder and both succeed', async () => {
    const key = randomBytes(16).toString('hex');
    const helperImage = `${registry}/mayfly/debian:bookworm`;
    const builds = instances.map((instance) => new DockerSnapshotEngine(docker, instance, helperImage).buildGolden(key, `mayfly-golden-${instance}-${key.slice(0, 16)}`, db, async (exec) => {
      // Long enough that the two builders overlap.
      const r = await exec(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'shop', '-d', 'shop', '-c', 'CREATE TABLE t AS SELECT 1 AS x; SELECT pg_sleep(4)']);
      assert.equal(r.exitCode, 0, r.output);
    }));
    const results = await Promise.allSettled(builds);
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? 'built' : String(r.reason))), ['built', 'built']);
  });
});
