/**
 * Checkpoints and rewind (issue 17, item 3): a checkpoint of an environment's database is taken on
 * request and before every redeploy, reset and rewind; a rewind brings one back; a bounded number
 * stay per environment; they go when the environment goes. Bad input changes nothing. When Redis
 * loses the jobs of a pending checkpoint, a pending bug capsule and a capsule's deletion, the
 * reconciler delivers them again from PostgreSQL. Through REST, against real engines (Docker with
 * reflink, PostgreSQL, Redis).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { settledReady, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { psql } from '../helpers/seed-checks.js';
import { capsuleJobId, checkpointJobId, deleteCapsuleJobId } from '../../core/queue/jobs.js';
import { capsuleVolume } from '../../core/domain/names.js';

const ALICE = 'alice-secret-0123456789'; // team qa
const BOB = 'bob-secret-0123456789'; // team platform
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });

interface Cp { id: string; reason: string; status: string; pauseMs: number | null; sizeBytes: number | null; error: string | null }

describe('checkpoints and rewind', () => {
  let h: Harness;
  let name: string;
  let envId: string;
  const list = async (env = name): Promise<Cp[]> => {
    const res = await h.api('GET', `/api/v1/environments/${env}/checkpoints`, undefined, as(ALICE));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.checkpoints;
  };
  const readyCheckpoint = (id: string) => waitUntil(`checkpoint ${id} to be taken`, 120_000, async () => {
    const cp = (await list()).find((c) => c.id === id);
    if (cp?.status === 'failed') assert.fail(`checkpoint ${id} failed: ${cp.error}`);
    return cp?.status === 'ready' ? cp : undefined;
  });
  const marker = async () => psql(h, envId, `SELECT coalesce(string_agg(name, ',' ORDER BY id), '') FROM products WHERE name LIKE 'cp-test %'`);
  const settle = (res: { status: number; body: any }) => settledReady(h, name, res, as(ALICE));

  before(async () => {
    h = await startHarness({
      env: {
        MAYFLY_API_TOKENS: `alice:${ALICE},bob:${BOB}`,
        MAYFLY_TEAMS: 'qa=alice;platform=bob',
        MAYFLY_CLONE_STRATEGY: 'reflink',
        MAYFLY_CHECKPOINTS_PER_ENV: '3',
      },
    });
    name = uniqueName('cp');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=240`, { template: 'shop', ttl: '1h' }, as(ALICE));
    envId = res.body.id;
    await settle(res);
  });
  after(async () => { await h.close(); });

  it('when a row is written, checkpointed, changed and the checkpoint rewound, then the row is back as it was', async () => {
    await psql(h, envId, `INSERT INTO products (name, price_cents) VALUES ('cp-test kept', 100)`);
    const taken = await h.api('POST', `/api/v1/environments/${name}/checkpoints`, {}, as(ALICE));
    assert.equal(taken.status, 202, JSON.stringify(taken.body));
    assert.match(taken.body.id, /^cp-[0-9a-f]{8}$/);
    assert.equal(taken.body.reason, 'manual');
    const cp = await readyCheckpoint(taken.body.id);
    assert.equal(typeof cp.pauseMs, 'number');
    assert.ok(cp.sizeBytes! > 1024 * 1024, `a PostgreSQL data directory: ${cp.sizeBytes} bytes`);
    // Docker marks a paused container unhealthy until its next check, an interval (10 s) later;
    // the database answered again, so it reads healthy (Docker itself may not have checked yet).
    const db = (await h.runtime.services(envId)).find((s) => s.service === 'db');
    assert.equal(db?.health, 'healthy', `the database after the checkpoint's pause: ${JSON.stringify(db)}`);

    await psql(h, envId, `UPDATE products SET name = 'cp-test changed' WHERE name = 'cp-test kept'; INSERT INTO products (name, price_cents) VALUES ('cp-test after', 1)`);
    assert.equal(await marker(), 'cp-test changed,cp-test after');

    const rewound = await settle(await h.api('POST', `/api/v1/environments/${name}/rewind?wait=180`, { checkpoint: cp.id }, as(ALICE)));
    assert.equal(await marker(), 'cp-test kept', 'the data of the checkpoint is back');
    const events = await h.store.events(envId);
    assert.ok(events.some((e) => e.type === 'rewound' && e.message.includes(cp.id)), 'the timeline says it was rewound');
    assert.ok(rewound.generation > 1);

    // The data before the rewind was checkpointed first: the rewind can be undone.
    const before = (await list()).find((c) => c.reason === 'before-rewind');
    assert.equal(before?.status, 'ready', JSON.stringify(await list()));
    await settle(await h.api('POST', `/api/v1/environments/${name}/rewind?wait=180`, { checkpoint: before!.id }, as(ALICE)));
    assert.equal(await marker(), 'cp-test changed,cp-test after', 'rewinding the before-rewind checkpoint undoes the rewind');
  });

  it('when the database is reset or redeployed, then a checkpoint of it was taken first, and a reset one can be rewound', async () => {
    await psql(h, envId, `DELETE FROM products WHERE name LIKE 'cp-test %'; INSERT INTO products (name, price_cents) VALUES ('cp-test before reset', 5)`);
    await settle(await h.api('POST', `/api/v1/environments/${name}/reset-db?wait=180`, undefined, as(ALICE)));
    assert.equal(await marker(), '', 'the reset brought the seed back');
    const beforeReset = (await list()).find((c) => c.reason === 'before-reset');
    assert.equal(beforeReset?.status, 'ready', JSON.stringify(await list()));
    await settle(await h.api('POST', `/api/v1/environments/${name}/rewind?wait=180`, { checkpoint: beforeReset!.id }, as(ALICE)));
    assert.equal(await marker(), 'cp-test before reset', 'the data the reset replaced is back');

    // A redeploy (a new commit at the same tag: force) is checkpointed too.
    const env = await h.store.getById(envId);
    const redeploy = await h.ctx.environments.deploy({ name: 'alice', kind: 'token', team: 'qa', admin: false },
      { name, template: 'shop', owner: 'alice', images: env!.images, seed: env!.seed, ttlSeconds: env!.ttlSeconds }, { ttlGiven: false, forceRedeploy: true });
    assert.equal(redeploy.action, 'redeployed');
    await settle({ status: 202, body: (await h.api('GET', `/api/v1/environments/${name}?wait=180`, undefined, as(ALICE))).body });
    const cps = await list();
    assert.equal(cps.find((c) => c.reason === 'before-redeploy')?.status, 'ready', JSON.stringify(cps));
    assert.equal(await marker(), 'cp-test before reset', 'a redeploy keeps the data');
  });

  it('when more checkpoints are taken than MAYFLY_CHECKPOINTS_PER_ENV, then the oldest go, volumes and all', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await h.api('POST', `/api/v1/environments/${name}/checkpoints`, undefined, as(ALICE));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      await readyCheckpoint(res.body.id);
    }
    const kept = await list();
    assert.equal(kept.filter((c) => c.status === 'ready').length, 3, JSON.stringify(kept));
    const { Volumes } = await h.docker.listVolumes({ filters: { label: [`mayfly.env=${envId}`, 'mayfly.role=checkpoint'] } });
    assert.deepEqual((Volumes ?? []).map((v) => v.Labels['mayfly.snapshot']).sort(), kept.filter((c) => c.status === 'ready').map((c) => c.id).sort(), 'one volume per kept checkpoint');
  });

  it('when the checkpoint is unknown, of another environment, malformed or missing, then 400 names the field and nothing changes', async () => {
    const other = uniqueName('cp-other');
    let otherEnv = await h.api('PUT', `/api/v1/environments/${other}?wait=240`, { template: 'shop', ttl: '1h' }, as(ALICE));
    for (let i = 0; i < 4 && !['ready', 'failed'].includes(otherEnv.body.status); i++) otherEnv = await h.api('GET', `/api/v1/environments/${other}?wait=120`, undefined, as(ALICE));
    assert.equal(otherEnv.body.status, 'ready', JSON.stringify(otherEnv.body));
    const theirs = await h.api('POST', `/api/v1/environments/${other}/checkpoints`, {}, as(ALICE));
    assert.equal(theirs.status, 202);
    const before = await h.store.getById(envId);
    for (const [body, pattern] of [
      [{ checkpoint: 'cp-00000000' }, /has no checkpoint "cp-00000000"/],
      [{ checkpoint: theirs.body.id }, new RegExp(`has no checkpoint "${theirs.body.id}"`)],
      [{ checkpoint: 'yesterday' }, /is required: a checkpoint id/],
      [{}, /is required/],
    ] as const) {
      const res = await h.api('POST', `/api/v1/environments/${name}/rewind`, body, as(ALICE));
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.details[0].field, 'checkpoint', JSON.stringify(res.body));
      assert.match(res.body.error.details[0].message, pattern);
    }
    const unknownField = await h.api('POST', `/api/v1/environments/${name}/rewind`, { checkpoint: 'cp-00000000', when: 'now' }, as(ALICE));
    assert.equal(unknownField.status, 400);
    const after = await h.store.getById(envId);
    assert.equal(after!.generation, before!.generation, 'no new generation');
    assert.equal(after!.status, 'ready');
    assert.equal(after!.restoreFrom, before!.restoreFrom);

    // Another team may neither checkpoint nor rewind it (403), and nothing is recorded.
    const count = (await list()).length;
    assert.equal((await h.api('POST', `/api/v1/environments/${name}/checkpoints`, {}, as(BOB))).status, 403);
    assert.equal((await h.api('POST', `/api/v1/environments/${name}/rewind`, { checkpoint: (await list())[0]!.id }, as(BOB))).status, 403);
    assert.equal((await list()).length, count);
    assert.equal((await h.store.getById(envId))!.generation, before!.generation);
    await h.api('DELETE', `/api/v1/environments/${other}?wait=60`, undefined, as(ALICE));
  });

  it('when Redis loses the jobs of a pending checkpoint, a pending bug capsule and a capsule deletion, then the reconciler queues them again and each finishes', async () => {
    const lifecycle = h.queues.lifecycle;
    /** Redis loses what it held: this test's own queue prefix only (the shared Redis serves others). */
    const loseQueues = async () => {
      await lifecycle.obliterate({ force: true });
      await h.queues.provision.obliterate({ force: true });
    };
    const capsuleRow = async (id: string) => (await h.pool.query<{ status: string; error: string | null }>('SELECT status, error FROM capsules WHERE id = $1', [id])).rows[0];
    const volumeExists = (volume: string) => h.docker.getVolume(volume).inspect().then(() => true, () => false);
    let capsuleId: string | undefined;
    // Asked for while no worker runs: their jobs sit in Redis, then Redis loses them.
    await h.stopWorker();
    try {
      const cp = await h.api('POST', `/api/v1/environments/${name}/checkpoints`, {}, as(ALICE));
      assert.equal(cp.status, 202, JSON.stringify(cp.body));
      const cap = await h.api('POST', `/api/v1/environments/${name}/capsules`, { name: 'redis-lost-it' }, as(ALICE));
      assert.equal(cap.status, 202, JSON.stringify(cap.body));
      capsuleId = cap.body.id as string;
      assert.ok(await lifecycle.getJob(checkpointJobId(cp.body.id)), 'the checkpoint was queued');
      assert.ok(await lifecycle.getJob(capsuleJobId(capsuleId)), 'the capsule was queued');
      await loseQueues();
      assert.equal(await lifecycle.getJob(checkpointJobId(cp.body.id)), undefined);
      assert.equal(await lifecycle.getJob(capsuleJobId(capsuleId)), undefined);
      assert.equal((await list()).find((c) => c.id === cp.body.id)?.status, 'pending');
      assert.equal((await capsuleRow(capsuleId))?.status, 'pending');

      await h.startWorker();
      const taken = await readyCheckpoint(cp.body.id);
      assert.ok(taken.sizeBytes! > 1024 * 1024, `a PostgreSQL data directory: ${taken.sizeBytes} bytes`);
      const capsule = await waitUntil(`bug capsule ${capsuleId} to be taken`, 240_000, async () => {
        const res = await h.api('GET', `/api/v1/capsules/${capsuleId}`, undefined, as(ALICE));
        assert.equal(res.status, 200, JSON.stringify(res.body));
        if (res.body.status === 'failed') assert.fail(`capsule ${capsuleId} failed: ${res.body.error}`);
        return res.body.status === 'ready' ? res.body : undefined;
      });
      assert.ok(capsule.sizeBytes > 1024 * 1024, JSON.stringify(capsule));
      const events = await h.store.events(envId);
      assert.ok(events.some((e) => e.type === 'checkpoint-requeued' && e.message.includes(cp.body.id)), 'the timeline says the checkpoint was queued again');
      assert.ok(events.some((e) => e.type === 'capsule-requeued' && e.message.includes(capsuleId!)), 'the timeline says the capsule was queued again');
      assert.ok(events.some((e) => e.type === 'checkpoint' && e.message.includes(cp.body.id)));
      assert.ok(events.some((e) => e.type === 'capsule' && e.message.includes(capsuleId!)));

      // Its deletion, whose job Redis loses too: the volume and the record still go.
      const volume = capsuleVolume(h.config.instance, capsuleId);
      assert.ok(await volumeExists(volume));
      await h.stopWorker();
      const del = await h.api('DELETE', `/api/v1/capsules/${capsuleId}`, undefined, as(ALICE));
      assert.equal(del.status, 202, JSON.stringify(del.body));
      assert.ok(await lifecycle.getJob(deleteCapsuleJobId(capsuleId)));
      await loseQueues();
      assert.equal(await lifecycle.getJob(deleteCapsuleJobId(capsuleId)), undefined);
      await h.startWorker();
      await waitUntil(`the volume of ${capsuleId} to be removed`, 120_000, async () => !(await volumeExists(volume)));
      await waitUntil(`the record of ${capsuleId} to be removed`, 60_000, async () => (await capsuleRow(capsuleId!)) === undefined);
      capsuleId = undefined;
    } finally {
      if (!h.worker) await h.startWorker();
      // Capsule volumes outlive environments by design: one this test left goes here.
      if (capsuleId) await h.docker.getVolume(capsuleVolume(h.config.instance, capsuleId)).remove({ force: true }).catch(() => undefined);
    }
    assert.equal((await h.store.getById(envId))!.status, 'ready', 'the environment stayed ready throughout');
  });

  it('when the environment is destroyed, then its checkpoints go with it', async () => {
    const res = await h.api('DELETE', `/api/v1/environments/${name}?wait=120`, undefined, as(ALICE));
    assert.equal(res.body.status, 'destroyed');
    const { Volumes } = await h.docker.listVolumes({ filters: { label: [`mayfly.env=${envId}`] } });
    assert.deepEqual((Volumes ?? []).map((v) => v.Name), [], 'no volume of it is left');
    const rows = await h.pool.query(`SELECT status FROM checkpoints WHERE environment_id = $1 AND status <> 'removed'`, [envId]);
    assert.deepEqual(rows.rows, [], 'its checkpoints are recorded removed');
  });
});
