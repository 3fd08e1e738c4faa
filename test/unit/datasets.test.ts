/**
 * The saved-dataset service (core/app/datasets.ts) against a fake snapshot store (our own port):
 * who may delete, what blocks a deletion, and the per-team limits before a save is queued and when
 * the save job admits its copy. The same paths run against real engines in
 * test/integration/datasets-owned.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetService } from '../../core/app/datasets.js';
import { loadConfig } from '../../core/config/config.js';
import type { DatasetCatalog } from '../../core/catalog/datasets.js';
import type { Environment } from '../../core/domain/environment.js';
import { MayflyError } from '../../core/domain/errors.js';
import type { Principal } from '../../core/domain/principal.js';
import { createLogger } from '../../core/platform/log.js';
import type { JobQueues } from '../../core/queue/jobs.js';
import type { Snapshot, SnapshotStore } from '../../core/store/snapshots.js';

const alice: Principal = { name: 'alice', kind: 'token', team: 'qa', admin: false };
const carol: Principal = { name: 'carol', kind: 'token', team: 'qa', admin: false };
const bob: Principal = { name: 'bob', kind: 'token', team: 'platform', admin: false };
const root: Principal = { name: 'root', kind: 'token', team: 'default', admin: true };

function record(over: Partial<Snapshot>): Snapshot {
  return {
    key: 'k1', dataset: 'bug-1', kind: 'saved', template: 'shop', contentHash: 'k1', image: 'postgres', imageDigest: 'sha256:x', volume: 'mayfly-golden-x-k1',
    status: 'ready', sizeBytes: 50 * 1024 * 1024, buildMs: 10, error: null, sourceEnv: 'e1', createdBy: 'alice', team: 'qa', sourceName: 'shop-src', deletedBy: null,
    createdAt: new Date(), readyAt: new Date(), lastUsedAt: null, ...over,
  };
}

function service(opts: { records?: Snapshot[]; users?: { id: string; name: string; status: string }[]; usage?: { count: number; bytes: number }; limits?: { perTeam: number; bytesPerTeam: number } } = {}) {
  const calls = { markDeleting: [] as string[], enqueued: [] as string[], markReady: 0 };
  const records = opts.records ?? [record({})];
  const snapshots = {
    savedRecords: async (name?: string) => records.filter((r) => !name || r.dataset === name),
    liveUsers: async () => opts.users ?? [],
    markDeleting: async (name: string) => { calls.markDeleting.push(name); return records.filter((r) => r.dataset === name); },
    teamUsage: async () => opts.usage ?? { count: 0, bytes: 0 },
    get: async () => record({ kind: 'dataset', sizeBytes: 40 * 1024 * 1024 }),
    withTeamLock: async <T>(_team: string, fn: () => Promise<T>) => fn(),
  } as unknown as SnapshotStore;
  const datasets = { list: async () => [{ name: 'demo' }] } as unknown as DatasetCatalog;
  const queues = { enqueueDeleteDataset: async (name: string) => { calls.enqueued.push(name); } } as unknown as JobQueues;
  const svc = new DatasetService({ snapshots, datasets, queues, logger: createLogger('silent', 'test'), limits: opts.limits ?? { perTeam: 0, bytesPerTeam: 0 } });
  return { svc, calls };
}

const rejects = async (p: Promise<unknown>, status: number, code: string, message?: RegExp) => {
  await assert.rejects(p, (e: MayflyError) => {
    assert.equal(e.status, status, e.message);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });
};

describe('saved datasets: who may delete them and what blocks it', () => {
  it('when another team deletes, then 403 names the dataset and its team, and nothing is marked or queued', async () => {
    const { svc, calls } = service();
    await rejects(svc.delete(bob, 'bug-1'), 403, 'FORBIDDEN', /saved dataset "bug-1" belongs to team "qa"; bob \(team "platform"\)/);
    assert.deepEqual(calls, { markDeleting: [], enqueued: [], markReady: 0 });
  });

  it('when its owner, a member of its team or an admin deletes, then it is marked and its removal queued', async () => {
    for (const who of [alice, carol, root]) {
      const { svc, calls } = service();
      const { volumes, delivery } = await svc.delete(who, 'bug-1');
      assert.deepEqual(volumes, ['mayfly-golden-x-k1']);
      assert.equal(delivery, 'queued');
      assert.deepEqual(calls.enqueued, ['bug-1'], who.name);
    }
  });

  it('when a live environment was started from it, then 409 names the environments and nothing is marked', async () => {
    const { svc, calls } = service({ users: [{ id: 'e2', name: 'shop-dev', status: 'ready' }, { id: 'e3', name: 'shop-qa', status: 'failed' }] });
    await rejects(svc.delete(alice, 'bug-1'), 409, 'DATASET_IN_USE', /environments "shop-dev" \(ready\), "shop-qa" \(failed\); destroy them first/);
    assert.deepEqual(calls.markDeleting, []);
  });

  it('when it is being saved, a seed-data dataset, malformed or unknown, then 409, 409, 400 naming the field, 404', async () => {
    await rejects(service({ records: [record({ status: 'building' })] }).svc.delete(alice, 'bug-1'), 409, 'DATASET_SAVING');
    await rejects(service().svc.delete(root, 'demo'), 409, 'DATASET_IS_FILE', /seed-data/);
    await assert.rejects(service().svc.delete(alice, 'Bad_Name'), (e: MayflyError) => e.status === 400 && (e.details as { field: string }[])[0]!.field === 'name');
    await rejects(service().svc.delete(alice, 'never-saved'), 404, 'DATASET_NOT_FOUND');
  });

  it('when the list is asked for, then each saved dataset says whether the caller may delete it', async () => {
    const { svc } = service();
    assert.equal((await svc.listSaved(alice))[0]!.canDelete, true);
    assert.equal((await svc.listSaved(bob))[0]!.canDelete, false);
    assert.equal((await svc.listSaved(root))[0]!.canDelete, true);
    const [d] = await svc.listSaved(alice);
    assert.deepEqual({ owner: d!.owner, team: d!.team, source: d!.source }, { owner: 'alice', team: 'qa', source: { environment: 'shop-src', environmentId: 'e1', template: 'shop' } });
  });
});

describe('saved datasets: the per-team limits', () => {
  const env = { id: 'e1', name: 'shop-src', snapshotKey: 'golden' } as Environment;

  it('when the team holds its count, then a save is 409 SAVED_DATASETS_LIMIT naming the variable', async () => {
    const { svc } = service({ usage: { count: 3, bytes: 0 }, limits: { perTeam: 3, bytesPerTeam: 0 } });
    await rejects(svc.checkRoom(alice, env), 409, 'SAVED_DATASETS_LIMIT', /team "qa" has 3 saved datasets, its limit \(MAYFLY_SAVED_DATASETS_PER_TEAM=3\)/);
    await service({ usage: { count: 2, bytes: 0 }, limits: { perTeam: 3, bytesPerTeam: 0 } }).svc.checkRoom(alice, env);
  });

  it('when the team\'s bytes with the estimate pass the limit, then 413 SAVED_BYTES_LIMIT; 0 means no limit', async () => {
    const mib = 1024 * 1024;
    const { svc } = service({ usage: { count: 1, bytes: 70 * mib }, limits: { perTeam: 0, bytesPerTeam: 100 * mib } });
    await rejects(svc.checkRoom(alice, env), 413, 'SAVED_BYTES_LIMIT', /holds 70 MiB of saved datasets; this one \(estimated from its seed\) is 40 MiB, over the team's limit of 100 MiB/);
    await service({ usage: { count: 1, bytes: 50 * mib }, limits: { perTeam: 0, bytesPerTeam: 100 * mib } }).svc.checkRoom(alice, env);
    await service({ usage: { count: 99, bytes: 99 * 1024 * mib }, limits: { perTeam: 0, bytesPerTeam: 0 } }).svc.checkRoom(alice, env);
  });

  it('when the save job admits a copy, then it is marked ready only within the limits', async () => {
    const mib = 1024 * 1024;
    const { svc } = service({ usage: { count: 1, bytes: 70 * mib }, limits: { perTeam: 5, bytesPerTeam: 100 * mib } });
    let ready = 0;
    await rejects(svc.admitSaved('qa', 'k9', 40 * mib, async () => { ready++; }), 413, 'SAVED_BYTES_LIMIT', /this one is 40 MiB, over/);
    assert.equal(ready, 0);
    await svc.admitSaved('qa', 'k9', 20 * mib, async () => { ready++; });
    assert.equal(ready, 1);
  });

  it('when the limits are configured, then they are parsed, and a wrong value names its variable', () => {
    assert.deepEqual(loadConfig({}).savedDatasets, { perTeam: 20, bytesPerTeam: 20 * 1024 ** 3 });
    assert.deepEqual(loadConfig({ MAYFLY_SAVED_DATASETS_PER_TEAM: '0', MAYFLY_SAVED_BYTES_PER_TEAM: '0' }).savedDatasets, { perTeam: 0, bytesPerTeam: 0 });
    assert.equal(loadConfig({ MAYFLY_SAVED_BYTES_PER_TEAM: '500m' }).savedDatasets.bytesPerTeam, 500 * 1024 * 1024);
    assert.throws(() => loadConfig({ MAYFLY_SAVED_BYTES_PER_TEAM: 'lots' }), /MAYFLY_SAVED_BYTES_PER_TEAM must be a size/);
    assert.throws(() => loadConfig({ MAYFLY_SAVED_DATASETS_PER_TEAM: '-1' }), /MAYFLY_SAVED_DATASETS_PER_TEAM must be an integer/);
  });
});
