/**
 * Set-up run again on a machine with a live environment (issue 12): it changes nothing that runs.
 * It only checks: dockerd keeps its pid, the environment its containers and data, and reflink
 * still works where the worker clones.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { projectRoot } from '../../core/config/config.js';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { assertHostHasReflink, psql, ready } from '../helpers/seed-checks.js';

const run = promisify(execFile);

async function containersOf(h: Harness, id: string): Promise<string[]> {
  const cs = await h.docker.listContainers({ all: true, filters: { label: [`mayfly.env=${id}`] } });
  const seen = await Promise.all(cs.map(async (c) => {
    const info = await h.docker.getContainer(c.Id).inspect();
    return `${info.Name} ${info.Id.slice(0, 12)} running=${info.State.Running} started=${info.State.StartedAt}`;
  }));
  return seen.sort();
}

describe('set-up run again beside a live environment', { timeout: 900_000 }, () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  it('when set-up runs twice with an environment running, then dockerd, the environment\'s containers and its data are untouched, and reflink still works', { timeout: 900_000 }, async () => {
    const name = uniqueName('rerun');
    const env = await ready(h, name, { template: 'shop' });
    await psql(h, env.id, `INSERT INTO products (name, price_cents) VALUES ('written before set-up ran again', 1)`);
    const dockerdPid = readFileSync('/var/run/docker.pid', 'utf8').trim();
    const before = await containersOf(h, env.id);
    assert.equal(before.length, 2, before.join('\n'));

    for (const round of [1, 2]) {
      const out = await run('bash', ['scripts/setup.sh'], { cwd: projectRoot(), maxBuffer: 16 * 1024 * 1024, timeout: 600_000 })
        .catch((err: { stdout?: string; stderr?: string; code?: number }) => assert.fail(`set-up run ${round} failed (exit ${err.code}):\n${err.stderr}`));
      const said = `${out.stdout}${out.stderr}`;
      assert.doesNotMatch(said, /stopping dockerd|starting dockerd|could not mount|unmount/i, `set-up run ${round} touched dockerd or a mount:\n${said}`);
      assert.match(said, /reflink works in \/var\/lib\/docker\/volumes/, `set-up run ${round} checked reflink with dockerd running:\n${said}`);
    }

    assert.equal(readFileSync('/var/run/docker.pid', 'utf8').trim(), dockerdPid, 'dockerd was not restarted');
    assert.deepEqual(await containersOf(h, env.id), before, 'the same containers, never restarted');
    const got = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(got.body.status, 'ready');
    assert.equal(await psql(h, env.id, `SELECT count(*) FROM products WHERE name = 'written before set-up ran again'`), '1', 'its data is there');
    assert.equal((await run('stat', ['-f', '-c', '%T', '/var/lib/docker/volumes'])).stdout.trim(), 'xfs');
    await assertHostHasReflink(h.docker);
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}?wait=120`)).body.status, 'destroyed');
  });
});
