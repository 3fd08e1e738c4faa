/**
 * What the reconciler decides when the engine and PostgreSQL disagree: a ready environment lost a
 * container (heal it), objects of an environment that is not live (remove them), a failed one's
 * leftovers (remove all but its data). The engine is a FakeRuntime behind our own ports; the
 * store (PostgreSQL) and the queue (Redis) are real.
 */
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { provisionJobId } from '../../core/queue/jobs.js';
import { reconcile } from '../../worker/jobs/reconcile.js';
import type { ReconcileActionEvent } from '../../worker/reconcile-actions.js';
import { startFakeWorker, type FakeWorker } from '../helpers/fake-worker.js';

let w: FakeWorker;
let n = 0;
const actions: ReconcileActionEvent[] = [];

before(async () => {
  w = await startFakeWorker();
  w.ctx.reconcileActions.on('action', (e) => actions.push(e));
});
after(async () => { await w?.close(); });

/** A ready environment that has been ready for a while (the reconciler leaves fresh moves alone). */
async function readyEnv() {
  const env = await w.create(`rec-${++n}`);
  assert.equal(await w.provision(env), 'ready');
  await w.settle(env.id);
  return w.get(env.id);
}

/** One reconciler run; what it did to this environment. */
async function reconcileFor(envId: string) {
  const from = actions.length;
  await reconcile(w.ctx);
  return actions.slice(from).filter((a) => a.envId === envId);
}

describe('the reconciler over a fake engine', () => {
  it('when a ready environment has all its containers running, then it leaves it alone', async () => {
    const env = await readyEnv();
    const objects = w.fake.objectsOf(env.id);
    assert.deepEqual(await reconcileFor(env.id), []);
    assert.equal((await w.get(env.id)).status, 'ready');
    assert.deepEqual(w.fake.objectsOf(env.id), objects);
  });

  it('when a ready environment\'s database was left paused (a worker killed mid-copy) and no copy holds its save lock, then it is unpaused, not redeployed, and the timeline says so', async () => {
    const env = await readyEnv();
    w.fake.pause(env, 'db');
    assert.deepEqual((await reconcileFor(env.id)).map((a) => a.kind), ['resumed']);
    const now = await w.get(env.id);
    assert.equal(now.status, 'ready');
    assert.equal(now.generation, env.generation, 'no redeploy');
    assert.equal(w.fake.objectsOf(env.id).containers.find((c) => c.service === 'db')?.state, 'running');
    const event = (await w.ctx.store.events(env.id)).at(-1)!;
    assert.equal(event.type, 'resumed');
    assert.match(event.message, /^db unpaused: left paused by a copy/);
    assert.deepEqual(await reconcileFor(env.id), [], 'nothing more to do on the next run');
  });

  it('when a ready environment\'s database is paused while a copy holds its save lock, then it is left alone', async () => {
    const env = await readyEnv();
    w.fake.pause(env, 'db');
    let release!: () => void;
    const holding = new Promise<void>((r) => { release = r; });
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => { locked = r; });
    const copy = w.ctx.snapshots.withSaveLock(env.id, async () => { locked(); await holding; });
    await lockTaken;
    try {
      assert.deepEqual(await reconcileFor(env.id), [], 'a copy in progress: not resumed, not healed');
      assert.equal(w.fake.objectsOf(env.id).containers.find((c) => c.service === 'db')?.state, 'paused');
    } finally {
      release();
      await copy;
    }
    assert.deepEqual((await reconcileFor(env.id)).map((a) => a.kind), ['resumed'], 'once the lock is free');
  });

  it('when a container of a ready environment vanished, then it redeploys it as a new generation, which brings the service back', async () => {
    const env = await readyEnv();
    const db = w.fake.objectsOf(env.id).containers.find((c) => c.service === 'db')!;
    w.fake.vanish(env, 'web');
    assert.deepEqual((await reconcileFor(env.id)).map((a) => a.kind), ['healed']);
    const healing = await w.get(env.id);
    assert.equal(healing.status, 'queued');
    assert.equal(healing.generation, env.generation + 1);
    const event = (await w.ctx.store.events(env.id)).at(-1)!;
    assert.equal(event.type, 'healing');
    assert.match(event.message, /web vanished/);
    assert.ok(await w.ctx.queues.provision.getJob(provisionJobId(env.id, healing.generation)), 'the new generation is queued');
    assert.equal(await w.provision(healing), 'ready');
    const containers = w.fake.objectsOf(env.id).containers;
    assert.deepEqual(containers.map((c) => c.service).sort(), ['db', 'web']);
    assert.equal(containers.find((c) => c.service === 'db')!.id, db.id, 'the database container (and its data) was kept');
    assert.ok((await w.get(env.id)).seededAt, 'its data was not replaced by a fresh seed');
  });

  it('when a container of a ready environment exited, then the healing says how', async () => {
    const env = await readyEnv();
    w.fake.exit(env, 'db', 137);
    assert.deepEqual((await reconcileFor(env.id)).map((a) => a.kind), ['healed']);
    assert.match((await w.ctx.store.events(env.id)).at(-1)!.message, /db exited with code 137/);
  });

  it('when a ready environment\'s database is down and its data sits on a node that takes no tasks, then the heal clones the seed afresh and the timeline says why', async () => {
    const env = await readyEnv();
    const db = w.fake.objectsOf(env.id).containers.find((c) => c.service === 'db')!;
    w.fake.exit(env, 'db', 0);
    w.fake.stranded.set(env.id, [{ service: 'db', volume: `${env.project}_dbdata`, node: 'node-2', why: 'ready, drain' }]);
    assert.deepEqual((await reconcileFor(env.id)).map((a) => a.kind), ['healed']);
    const healing = await w.get(env.id);
    assert.equal(healing.status, 'queued');
    assert.equal(healing.seededAt, null, 'the heal clears the seed mark, so the redeploy clones again');
    const event = (await w.ctx.store.events(env.id)).at(-1)!;
    assert.equal(event.type, 'healing');
    assert.match(event.message, new RegExp(`db exited with code 0; its data \\(${env.project}_dbdata\\) is on node node-2 \\(ready, drain\\), which takes no tasks: redeploying with a fresh clone of "demo" on another node`));
    w.fake.stranded.delete(env.id);
    const clones = w.fake.log.filter((l) => l.startsWith('clone ')).length;
    assert.equal(await w.provision(healing), 'ready');
    assert.equal(w.fake.log.filter((l) => l.startsWith('clone ')).length, clones + 1, 'the redeploy cloned the seed again');
    assert.notEqual(w.fake.objectsOf(env.id).containers.find((c) => c.service === 'db')!.id, db.id, 'a new database container on the new clone');
    assert.ok((await w.get(env.id)).seededAt, 'seeded again');
  });

  it('when a ready environment without a seed has its data on a node that takes no tasks, then the heal keeps it and says the redeploy waits for that node', async () => {
    const env = await w.create(`rec-${++n}`, { seed: null });
    assert.equal(await w.provision(env), 'ready');
    await w.settle(env.id);
    w.fake.vanish(env, 'db');
    w.fake.stranded.set(env.id, [{ service: 'db', volume: `${env.project}_dbdata`, node: 'node-3', why: 'down, active' }]);
    assert.deepEqual((await reconcileFor(env.id)).map((a) => a.kind), ['healed']);
    w.fake.stranded.delete(env.id);
    assert.match((await w.ctx.store.events(env.id)).at(-1)!.message, /db vanished; its data \(\S+\) is on node node-3 \(down, active\), which takes no tasks; it has no seed to clone again, so the redeploy waits for that node: redeploying \(heal 1/);
  });

  it('when the engine moved a ready environment\'s web to another node, then its address follows (the router with it), once, and the timeline says where', async () => {
    const env = await readyEnv();
    assert.match(env.endpoints.web ?? '', /^127\.0\.0\.1:\d+$/);
    w.fake.moveTask(env, 'web', '10.77.0.3', 31234);
    assert.deepEqual((await reconcileFor(env.id)).map((a) => a.kind), ['endpoint-moved']);
    const moved = await w.get(env.id);
    assert.equal(moved.status, 'ready', 'a move is not a heal: nothing restarts');
    assert.equal(moved.generation, env.generation);
    assert.equal(moved.endpoints.web, '10.77.0.3:31234');
    assert.equal(moved.endpoints.db, env.endpoints.db, 'the services that stayed keep their address');
    const event = (await w.ctx.store.events(env.id)).at(-1)!;
    assert.equal(event.type, 'endpoints');
    assert.match(event.message, new RegExp(`^web answers at 10\\.77\\.0\\.3:31234 now \\(was ${env.endpoints.web!.replace(/\./g, '\\.')}\\): the engine moved it to another node`));
    assert.deepEqual(await reconcileFor(env.id), [], 'the next run finds nothing to follow');
  });

  it('when Docker holds objects labeled for an environment PostgreSQL never had, then they are removed', async () => {
    const id = randomUUID();
    w.fake.plantOrphan(id, `ghost-${id.slice(0, 8)}`);
    assert.deepEqual(await reconcileFor(id), [{ kind: 'orphan-removed', envId: id, count: 3 }]);
    assert.deepEqual(w.fake.objectsOf(id), { containers: [], networks: [], volumes: [] });
    assert.ok(w.fake.log.includes(`remove env ${id}`));
  });

  it('when Docker holds objects of an environment PostgreSQL says is destroyed, then they are removed, data and all', async () => {
    const env = await readyEnv();
    await w.ctx.store.transition(env.id, 'destroying', { from: ['ready'], event: { type: 'destroying', message: 'destroy requested (test)' } });
    await w.ctx.store.transition(env.id, 'destroyed', { from: ['destroying'], event: { type: 'destroyed', message: 'destroyed without its teardown (test)' } });
    const removed = await reconcileFor(env.id);
    assert.deepEqual(removed, [{ kind: 'orphan-removed', envId: env.id, count: 4 }]);
    assert.deepEqual(w.fake.objectsOf(env.id), { containers: [], networks: [], volumes: [] });
  });

  it('when a failed environment that was ready still has containers, then they and its network go, and its data stays', async () => {
    const env = await readyEnv();
    await w.ctx.store.transition(env.id, 'failed', { from: ['ready'], set: { failure_code: 'TEST', failure_message: 'failed (test)' },
      event: { type: 'failed', message: 'failed without its cleanup (test)' } });
    assert.deepEqual(await reconcileFor(env.id), [{ kind: 'orphan-removed', envId: env.id, count: 3 }]);
    assert.deepEqual(w.fake.objectsOf(env.id), { containers: [], networks: [], volumes: [`${env.project}_dbdata`] });
    assert.ok(w.fake.log.includes(`remove env ${env.id} (keep data)`));
    // Only its kept data is left: the next runs leave it alone.
    assert.deepEqual(await reconcileFor(env.id), []);
    assert.deepEqual(w.fake.objectsOf(env.id).volumes, [`${env.project}_dbdata`]);
  });

  it('when an orphan cannot be removed this time, then the next run tries again', async () => {
    const id = randomUUID();
    w.fake.plantOrphan(id, `stubborn-${id.slice(0, 8)}`);
    const remove = w.fake.remove.bind(w.fake);
    let refusals = 1;
    w.fake.remove = async (envId, opts) => {
      if (envId === id && refusals-- > 0) throw new Error('conflict: volume is in use (injected)');
      return remove(envId, opts);
    };
    try {
      assert.deepEqual(await reconcileFor(id), [{ kind: 'orphan-retry', envId: id, count: 1 }]);
      assert.equal(w.fake.objectsOf(id).containers.length, 1);
      assert.deepEqual(await reconcileFor(id), [{ kind: 'orphan-removed', envId: id, count: 3 }]);
    } finally {
      w.fake.remove = remove;
    }
  });
});
