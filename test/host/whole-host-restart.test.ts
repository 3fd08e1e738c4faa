/**
 * A whole-host restart as far as one machine can play it (issue 12, point 4): Mayfly's worker and
 * every engine are killed with SIGKILL at once, then set-up runs and the worker starts again, as
 * `npm run up` does after a reboot. The environment that was ready comes back ready with the
 * data written before, and its timeline says what happened.
 *
 * Stops the shared engines: `npm test` runs test/host alone, before the other suites.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { projectRoot } from '../../core/config/config.js';
import { FAULT_ENV } from '../helpers/faults.js';
import { AUTH, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { killEngines } from '../helpers/host-engines.js';
import { psql, ready } from '../helpers/seed-checks.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const run = promisify(execFile);

describe('the whole host restarted', { timeout: 900_000 }, () => {
  let h: Harness;
  let w: WorkerProcess;
  before(async () => {
    h = await startHarness({ worker: false, env: FAULT_ENV });
    w = await WorkerProcess.start(h);
  });
  after(async () => {
    await w?.stop();
    await h?.close();
  });

  it('when the worker and every engine are killed at once and set-up and the worker start again, then the ready environment is ready again with its data, and its timeline says it was healed', { timeout: 900_000 }, async () => {
    const name = uniqueName('host-down');
    const env = await ready(h, name, { template: 'shop' });
    await psql(h, env.id, `INSERT INTO products (name, price_cents) VALUES ('written before the host went down', 1)`);
    const generation = (await h.store.getById(env.id))!.generation;

    // Power cut: Mayfly first (it must not see the engines die one by one), then every engine.
    assert.equal((await w.kill()).signal, 'SIGKILL');
    await killEngines();

    // Boot: set-up (as npm run up runs it), then Mayfly's worker.
    await run('bash', ['scripts/setup.sh'], { cwd: projectRoot(), maxBuffer: 16 * 1024 * 1024, timeout: 600_000 })
      .catch((err: { stderr?: string; code?: number }) => assert.fail(`set-up failed (exit ${err.code}):\n${err.stderr}`));
    await w.restart();

    const back = await waitUntil('the environment to be healed and ready', 480_000, async () => {
      const e = await h.store.getById(env.id).catch(() => undefined); // PostgreSQL may still be starting
      return e && e.status === 'ready' && e.generation > generation ? e : undefined;
    }).catch(async (err) => assert.fail(`${(err as Error).message}\n${(await h.store.events(env.id)).map((e) => `${e.type}: ${e.message}`).join('\n')}\n${w.output()}`));
    assert.equal(await psql(h, back.id, `SELECT count(*) FROM products WHERE name = 'written before the host went down'`), '1', 'the data written before is there');
    assert.equal(await psql(h, back.id, 'SELECT count(*) FROM products'), '13', 'and the seed with it');
    const page = await fetch(back.urls[Object.keys(back.urls)[0]!]!, { headers: AUTH, redirect: 'manual' }); // previews are private: with the API token
    assert.equal(page.status, 200, 'it answers');
    const timeline = (await h.store.events(env.id)).map((e) => `${e.type}: ${e.message}`);
    assert.ok(timeline.some((l) => l.startsWith('healing:')), `its timeline says it was healed:\n${timeline.join('\n')}`);
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}?wait=120`)).body.status, 'destroyed');
  });
});
