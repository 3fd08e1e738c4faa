/**
 * What provisioning decides when the engine fails, or the worker stops, in each phase: fail for
 * good and clean up, retry, resume in another run, or stand down. The engine is a FakeRuntime
 * behind our own ports; the store (PostgreSQL) and the queue (Redis) are real.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UnrecoverableError } from 'bullmq';
import { MayflyError, PermanentFailure } from '../../core/domain/errors.js';
import { startFakeWorker, type FakeWorker } from '../helpers/fake-worker.js';

let w: FakeWorker;
let n = 0;
/** A new environment; its seed's golden is built again when the test is about that phase. */
const fresh = async (phase?: string) => {
  if (phase === 'golden') w.fake.dropGoldens();
  return w.create(`prov-${++n}`);
};

before(async () => { w = await startFakeWorker(); });
after(async () => { await w?.close(); });

/**
 * The timeline without progress lines. Those are written without waiting (fenced like the rest),
 * so one of the run that finished may land after its "ready"; every other event is awaited.
 */
const steps = async (id: string) => (await w.events(id)).filter((t) => t !== 'progress');

/** The phases of one provisioning, in order, as the fake engine names them. */
const PHASES = ['pull', 'golden', 'clone', 'network', 'volume', 'start:db', 'health:db', 'start:web', 'health:web'];

describe('provisioning over a fake engine', () => {
  it('when every phase works, then it is ready with its address, its seed cloned and one container per service', async () => {
    const env = await fresh();
    assert.equal(await w.provision(env), 'ready');
    const ready = await w.get(env.id);
    assert.equal(ready.status, 'ready');
    assert.match(ready.endpoints.web ?? '', /^127\.0\.0\.1:\d+$/);
    assert.ok(ready.seededAt, 'its database is marked seeded');
    assert.equal(ready.cloneStrategy, 'copy');
    const events = await w.events(env.id);
    for (const type of ['pulled', 'cloned', 'ready']) assert.ok(events.includes(type), `${type} in ${events.join(', ')}`);
    const objects = w.fake.objectsOf(env.id);
    assert.deepEqual(objects.containers.map((c) => c.service).sort(), ['db', 'web']);
    assert.equal(objects.networks.length, 1);
    assert.deepEqual(objects.volumes, [`${env.project}_dbdata`]);
  });
});

describe('a phase that fails for good', () => {
  const permanent: Record<string, string> = {
    pull: 'IMAGE_NOT_FOUND', golden: 'SNAPSHOT_FAILED', clone: 'CLONE_FAILED', network: 'NETWORK_POOLS_EXHAUSTED', volume: 'NAME_CLASH',
    'start:db': 'NAME_CLASH', 'health:db': 'SERVICE_UNHEALTHY', 'start:web': 'NAME_CLASH', 'health:web': 'HEALTH_TIMEOUT',
  };
  for (const phase of PHASES) {
    const code = permanent[phase]!;
    it(`when ${phase} fails with ${code}, then the environment fails with that code, everything it made is removed, and there is no retry`, async () => {
      const env = await fresh(phase);
      w.fake.failAt(phase, new PermanentFailure(code, `${phase} broke (injected)`));
      await assert.rejects(w.provision(env), (err: Error) => err instanceof UnrecoverableError && /injected/.test(err.message));
      const failed = await w.get(env.id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.failure?.code, code);
      const events = await w.events(env.id);
      assert.ok(events.includes('failed') && events.includes('cleaned'), events.join(', '));
      assert.ok(!events.includes('retry') && !events.includes('ready'), events.join(', '));
      // Never ready: it holds no tester's data, so nothing of it is kept.
      assert.deepEqual(w.fake.objectsOf(env.id), { containers: [], networks: [], volumes: [] });
      assert.ok(w.fake.log.includes(`remove env ${env.id}`));
    });
  }
});

describe('a phase that fails for a reason a retry may fix', () => {
  for (const phase of PHASES) {
    it(`when ${phase} fails once, then the attempt is retried, and the next attempt ends ready with one set of objects`, async () => {
      const env = await fresh(phase);
      w.fake.failAt(phase, new MayflyError('ENGINE_HICCUP', 502, `${phase}: the engine did not answer (injected)`));
      const job = await w.job(env);
      await assert.rejects(w.provision(env, job), /injected/);
      assert.equal((await w.get(env.id)).status, 'provisioning');
      assert.ok((await w.events(env.id)).includes('retry'));
      job.attemptsMade = 1;
      assert.equal(await w.provision(env, job), 'ready');
      assert.equal((await w.get(env.id)).status, 'ready');
      const objects = w.fake.objectsOf(env.id);
      assert.deepEqual(objects.containers.map((c) => c.service).sort(), ['db', 'web']);
      assert.equal(objects.networks.length, 1);
      assert.deepEqual(objects.volumes, [`${env.project}_dbdata`]);
    });
  }

  it('when the last attempt fails for such a reason, then the environment fails (PROVISION_FAILED) and is cleaned up', async () => {
    const env = await fresh();
    w.fake.failAt('start:web', new Error('socket hang up (injected)'));
    const job = await w.job(env);
    job.attemptsMade = (job.opts.attempts ?? 1) - 1;
    await assert.rejects(w.provision(env, job), UnrecoverableError);
    const failed = await w.get(env.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'PROVISION_FAILED');
    assert.deepEqual(w.fake.objectsOf(env.id), { containers: [], networks: [], volumes: [] });
  });
});

describe('a worker that stops in a phase (crashed, or paused past its lock)', () => {
  for (const phase of PHASES.filter((p) => p !== 'golden')) {
    it(`when a run stops in ${phase} and another run takes the job over, then that run ends ready, and the first, waking, stands down touching nothing`, async () => {
      const env = await fresh();
      const hang = w.fake.hangAt(phase);
      const job = await w.job(env);
      const first = w.provision(env, job);
      await hang.reached;
      let made: number, objects: ReturnType<typeof w.fake.objectsOf>, timeline: string[];
      try {
        assert.equal(await w.provision(env, job), 'ready');
        assert.ok(await w.resumed(env.id), 'the second run resumed the provisioning');
        made = w.fake.log.length;
        objects = w.fake.objectsOf(env.id);
        timeline = await steps(env.id);
      } finally {
        hang.release();
      }
      assert.equal(await first, 'stood down');
      assert.deepEqual(w.fake.log.slice(made), [], 'the first run changed nothing in the engine');
      assert.deepEqual(w.fake.objectsOf(env.id), objects);
      assert.equal((await w.get(env.id)).status, 'ready');
      assert.deepEqual(await steps(env.id), timeline, 'and wrote nothing to the timeline');
    });
  }

  it('when a run stops while it builds the golden snapshot, then the other run waits for it and ends ready, and the first stands down', async () => {
    const env = await fresh('golden');
    const hang = w.fake.hangAt('golden');
    const job = await w.job(env);
    const first = w.provision(env, job);
    await hang.reached;
    const second = w.provision(env, job);
    // The second run claims the environment, then waits on the golden's lock that the first holds.
    try {
      while (!(await w.resumed(env.id))) await new Promise((r) => setTimeout(r, 20));
    } finally {
      hang.release();
    }
    assert.equal(await first, 'stood down');
    assert.equal(await second, 'ready');
    assert.deepEqual(w.fake.objectsOf(env.id).containers.map((c) => c.service).sort(), ['db', 'web']);
  });
});

describe('a superseded generation', () => {
  const redeploy = async (id: string, from: 'queued' | 'provisioning') => {
    const moved = await w.ctx.store.transition(id, 'queued', { from: [from], bumpGeneration: true, event: { type: 'redeploy', message: 'redeployed (test)' } });
    assert.ok(moved, 'redeployed');
    return moved;
  };

  it('when the job of an old generation runs after a redeploy, then it says superseded and touches nothing', async () => {
    const env = await fresh();
    const oldJob = await w.job(env);
    const next = await redeploy(env.id, 'queued');
    assert.equal(next.generation, env.generation + 1);
    const made = w.fake.log.length;
    assert.equal(await w.provision(env, oldJob), 'superseded');
    assert.deepEqual(w.fake.log.slice(made), []);
    assert.equal(w.fake.objectsOf(env.id).containers.length, 0);
    assert.equal(await w.provision(next), 'ready');
    assert.equal((await w.get(env.id)).generation, next.generation);
  });

  it('when a redeploy comes while a run of the old generation is in the middle, then that run stands down and leaves the new generation alone', async () => {
    const env = await fresh();
    const hang = w.fake.hangAt('start:web');
    const first = w.provision(env);
    await hang.reached;
    let next: Awaited<ReturnType<typeof redeploy>>, made: number, objects: ReturnType<typeof w.fake.objectsOf>;
    try {
      next = await redeploy(env.id, 'provisioning');
      assert.equal(await w.provision(next), 'ready');
      made = w.fake.log.length;
      objects = w.fake.objectsOf(env.id);
    } finally {
      hang.release();
    }
    assert.equal(await first, 'stood down');
    assert.deepEqual(w.fake.log.slice(made), []);
    assert.deepEqual(w.fake.objectsOf(env.id), objects);
    const now = await w.get(env.id);
    assert.equal(now.status, 'ready');
    assert.equal(now.generation, next.generation);
  });
});
