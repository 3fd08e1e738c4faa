import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CapsuleService } from '../../core/app/capsules.js';
import type { EnvironmentService } from '../../core/app/environments.js';
import type { TemplateCatalog } from '../../core/catalog/templates.js';
import type { Environment } from '../../core/domain/environment.js';
import { ConflictError, ForbiddenError, InputError, MayflyError } from '../../core/domain/errors.js';
import type { Principal } from '../../core/domain/principal.js';
import type { NewEnvironment } from '../../core/store/environments.js';
import type { JobQueues } from '../../core/queue/jobs.js';
import type { Capsule, CapsuleStore, NewCapsule } from '../../core/store/capsules.js';

/** The application layer of bug capsules over stand-ins of our own ports (the store, the queue, the deploy). */
const DIGEST = `registry.local/shop@sha256:${'a'.repeat(64)}`;
const alice: Principal = { name: 'alice', kind: 'token', team: 'qa', admin: false };
const bob: Principal = { name: 'bob', kind: 'token', team: 'platform', admin: false };
const root: Principal = { name: 'root', kind: 'token', team: 'ops', admin: true };

const env = (over: Partial<Environment> = {}): Environment => ({
  id: '00000000-0000-0000-0000-000000000001', name: 'shop-1', template: 'shop', status: 'ready', team: 'qa', seed: 'demo',
  images: { web: 'registry.local/shop:main', db: 'postgres:15' }, digests: { web: DIGEST, db: 'postgres:15' },
  ...over,
} as Environment);

function setup(perTeam = 2) {
  const capsules = new Map<string, Capsule>();
  const queued: string[] = [];
  const deployed: NewEnvironment[] = [];
  let n = 0;
  const store = {
    async add(input: NewCapsule) {
      const id = `cap-0000000${++n}`;
      const c = {
        id, name: input.name ?? id, note: input.note, team: input.team, environmentId: input.env.id, environment: input.env.name, template: input.env.template,
        seed: input.env.seed, images: input.env.images, digests: input.env.digests, status: 'pending', volume: input.volumeOf(id), requests: input.requests, createdBy: input.createdBy,
      } as Capsule;
      capsules.set(id, c);
      return c;
    },
    async get(id: string) { return capsules.get(id); },
    async teamCount(team: string) { return [...capsules.values()].filter((c) => c.team === team && (c.status === 'pending' || c.status === 'ready')).length; },
    async listForName(name: string) { return [...capsules.values()].filter((c) => c.environment === name); },
    async markDeleting(id: string) { const c = capsules.get(id); if (!c || c.status === 'deleting') return false; c.status = 'deleting'; return true; },
  } as unknown as CapsuleStore;
  const queues = { async enqueueCapsule(id: string) { queued.push(`take ${id}`); }, async enqueueDeleteCapsule(id: string) { queued.push(`delete ${id}`); } } as unknown as JobQueues;
  const catalog = {
    has: (t: string) => t === 'shop' || t === 'nodb',
    get: (t: string) => ({ name: t, database: t === 'shop' ? { service: 'db' } : undefined, ttl: { defaultSeconds: 3600, maxSeconds: 7200 } }),
  } as unknown as TemplateCatalog;
  const environments = {
    async deploy(_actor: Principal, input: NewEnvironment) { deployed.push(input); return { env: env({ name: input.name, images: input.images }), action: 'created', delivery: 'queued' }; },
  } as unknown as EnvironmentService;
  const service = new CapsuleService({ capsules: store, environments, queues, catalog, perTeam, instance: 'test' });
  return { service, capsules, queued, deployed };
}

const refusal = async (p: Promise<unknown>) => p.then(() => assert.fail('expected a refusal'), (err: unknown) => err as MayflyError);

describe('bug capsules (application layer)', () => {
  it('when a capsule is taken, then it is recorded pending with the trail given, its own volume, and queued', async () => {
    const { service, queued } = setup();
    const trail = [{ method: 'GET', path: '/cart', status: 200, durationMs: 3, at: '2026-01-01T00:00:00.000Z' }];
    const { capsule, delivery } = await service.take(alice, env(), { name: 'checkout-500', note: 'pay fails' }, trail);
    assert.deepEqual({ name: capsule.name, note: capsule.note, team: capsule.team, status: capsule.status, volume: capsule.volume, requests: capsule.requests },
      { name: 'checkout-500', note: 'pay fails', team: 'qa', status: 'pending', volume: `mayfly-capsule-test-${capsule.id}`, requests: trail });
    assert.equal(delivery, 'queued');
    assert.deepEqual(queued, [`take ${capsule.id}`]);
  });

  it('when the name, the note, the state, the template or the team is wrong, then it is refused and nothing is recorded', async () => {
    const { service, capsules, queued } = setup();
    const cases: [Promise<unknown>, (e: MayflyError) => void][] = [
      [service.take(alice, env(), { name: 'Bad Name' }, []), (e) => assert.deepEqual((e as InputError).problems.map((p) => p.field), ['name'])],
      [service.take(alice, env(), { note: 7 }, []), (e) => assert.deepEqual((e as InputError).problems.map((p) => p.field), ['note'])],
      [service.take(alice, env(), { name: 'ok', note: 'x'.repeat(2001) }, []), (e) => assert.deepEqual((e as InputError).problems.map((p) => p.field), ['note'])],
      [service.take(alice, env({ status: 'provisioning' }), {}, []), (e) => assert.equal(e.code, 'NOT_READY')],
      [service.take(alice, env({ template: 'nodb' }), {}, []), (e) => assert.equal(e.code, 'NO_DATABASE')],
      [service.take(bob, env(), {}, []), (e) => assert.ok(e instanceof ForbiddenError)],
    ];
    for (const [p, check] of cases) check(await refusal(p));
    assert.equal(capsules.size, 0);
    assert.deepEqual(queued, []);
  });

  it('when the team holds its limit, then another is refused with CAPSULES_LIMIT; an admin may take one of any team within it', async () => {
    const { service, capsules } = setup(2);
    await service.take(alice, env(), {}, []);
    await service.take(root, env(), {}, []);
    const over = await refusal(service.take(alice, env(), {}, []));
    assert.ok(over instanceof ConflictError);
    assert.equal(over.code, 'CAPSULES_LIMIT');
    assert.match(over.message, /team "qa" holds 2 bug capsules.*MAYFLY_CAPSULES_PER_TEAM=2/);
    assert.equal(capsules.size, 2);
  });

  it('when a capsule is read, listed or deleted, then only its team or an admin may; unknown and deleted ones are 404', async () => {
    const { service, capsules, queued } = setup();
    const { capsule } = await service.take(alice, env(), {}, []);
    assert.equal((await service.get(alice, capsule.id)).id, capsule.id);
    assert.equal((await service.get(root, capsule.id)).id, capsule.id);
    assert.ok(await refusal(service.get(bob, capsule.id)) instanceof ForbiddenError);
    assert.ok(await refusal(service.list(bob, env())) instanceof ForbiddenError);
    assert.deepEqual((await service.list(alice, env())).map((c) => c.id), [capsule.id]);
    assert.ok(await refusal(service.remove(bob, capsule.id)) instanceof ForbiddenError);
    assert.equal(capsules.get(capsule.id)!.status, 'pending', 'a refused delete changes nothing');
    for (const id of ['cap-99999999', 'not-an-id']) assert.equal((await refusal(service.get(alice, id))).code, 'CAPSULE_NOT_FOUND');
    await service.remove(alice, capsule.id);
    assert.deepEqual(queued.slice(-1), [`delete ${capsule.id}`]);
    assert.equal((await refusal(service.get(alice, capsule.id))).status, 404, 'a deleted capsule is gone for readers at once');
  });

  it('when a capsule is restored, then a new environment of its team is created pinned to its digests, with its seed and its data (restoreFrom)', async () => {
    const { service, capsules, deployed } = setup();
    const { capsule } = await service.take(alice, env(), {}, []);
    capsules.get(capsule.id)!.status = 'ready';
    await service.restore(alice, 'bug-1', capsule.id, { door: 'cli', ttl: '2h' });
    assert.equal(deployed.length, 1);
    const d = deployed[0]!;
    assert.deepEqual({ name: d.name, template: d.template, seed: d.seed, team: d.team, restoreFrom: d.restoreFrom, ttlSeconds: d.ttlSeconds, door: d.door },
      { name: 'bug-1', template: 'shop', seed: 'demo', team: 'qa', restoreFrom: capsule.id, ttlSeconds: 7200, door: 'cli' });
    assert.deepEqual(d.images, { web: DIGEST, db: 'postgres:15' }, 'by digest where one was recorded, else the reference asked for');
  });

  it('when a restore names an unknown, malformed, not ready or other team\'s capsule, a bad name or ttl, then it is refused naming the field and nothing is created', async () => {
    const { service, capsules, deployed } = setup();
    const { capsule } = await service.take(alice, env(), {}, []);
    const fieldOf = (e: MayflyError) => (e.details as { field: string }[] | undefined)?.[0]?.field;
    const unknown = await refusal(service.restore(alice, 'bug-1', 'cap-99999999', { door: 'api' }));
    assert.deepEqual([unknown.status, unknown.code, fieldOf(unknown)], [404, 'CAPSULE_NOT_FOUND', 'capsule']);
    const malformed = await refusal(service.restore(alice, 'bug-1', 42, { door: 'api' }));
    assert.deepEqual([malformed.status, fieldOf(malformed)], [400, 'capsule']);
    const pending = await refusal(service.restore(alice, 'bug-1', capsule.id, { door: 'api' }));
    assert.deepEqual([pending.status, fieldOf(pending)], [400, 'capsule']);
    assert.match(pending.message + JSON.stringify(pending.details), /is pending; only a ready capsule can be restored/);
    capsules.get(capsule.id)!.status = 'ready';
    assert.ok(await refusal(service.restore(bob, 'bug-1', capsule.id, { door: 'api' })) instanceof ForbiddenError);
    assert.equal(fieldOf(await refusal(service.restore(alice, 'Bad Name', capsule.id, { door: 'api' }))), 'name');
    assert.equal(fieldOf(await refusal(service.restore(alice, 'bug-1', capsule.id, { door: 'api', ttl: '99h' }))), 'ttl');
    assert.deepEqual(deployed, []);
  });
});
