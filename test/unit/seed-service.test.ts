import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../core/config/config.js';
import { createLogger } from '../../core/platform/log.js';
import type { DatasetCatalog } from '../../core/catalog/datasets.js';
import type { SnapshotStore } from '../../core/store/snapshots.js';
import type { ProbeResult, SnapshotEngine } from '../../worker/seeds/engine.js';
import { REPROBE_MIN_MS, SeedService, type StrategyFact } from '../../worker/seeds/seed-service.js';

/** A fake of our own SnapshotEngine port: only probe() matters for choosing a strategy. */
function service(probe: Partial<ProbeResult> | (() => Partial<ProbeResult>), strategy = 'auto') {
  const facts: Record<string, unknown> = {};
  const told: StrategyFact[] = [];
  let probes = 0;
  const next = typeof probe === 'function' ? probe : () => probe;
  const engine = { probe: async () => { probes++; return { reflink: false, overlay: false, copy: true, notes: {}, unsure: [], ...next() }; } } as unknown as SnapshotEngine;
  const snapshots = { setFact: async (k: string, v: unknown) => { facts[k] = v; } } as unknown as SnapshotStore;
  const s = new SeedService(loadConfig({ MAYFLY_CLONE_STRATEGY: strategy }), {} as DatasetCatalog, snapshots, engine, createLogger('silent', 't'), (f) => told.push(f));
  return { s, facts, told, probes: () => probes };
}

describe('choosing a clone strategy', () => {
  it('when the host has reflink, then auto picks reflink, and the host is probed once', async () => {
    const { s, facts, probes } = service({ reflink: true, overlay: true });
    assert.equal((await s.strategy()).chosen, 'reflink');
    await s.strategy();
    assert.equal(probes(), 1);
    assert.equal((facts['clone-strategy'] as { chosen: string }).chosen, 'reflink');
  });
  it('when there is no reflink, then auto picks overlay, then copy', async () => {
    assert.equal((await service({ overlay: true }).s.strategy()).chosen, 'overlay');
    assert.equal((await service({}).s.strategy()).chosen, 'copy');
  });
  it('when nothing but restore works, then restore', async () => {
    assert.equal((await service({ copy: false }).s.strategy()).chosen, 'restore');
  });
  it('when the configured strategy does not work here, then it says so, naming the variable', async () => {
    await assert.rejects(service({ notes: { reflink: 'no reflink' } }, 'reflink').s.strategy(), /MAYFLY_CLONE_STRATEGY=reflink.*no reflink/);
  });
  it('when auto finds no reflink, then the choice is a downgrade with its reason, told to the metrics and recorded for /readyz', async () => {
    const { s, facts, told } = service({ overlay: true, notes: { reflink: 'the volume file system has no reflink' } });
    const fact = await s.strategy();
    assert.equal(fact.chosen, 'overlay');
    assert.equal(fact.expected, 'reflink');
    assert.equal(fact.downgraded, true);
    assert.match(fact.reason, /no reflink/);
    assert.deepEqual(told.map((f) => f.downgraded), [true]);
    assert.equal((facts['clone-strategy'] as StrategyFact).downgraded, true);
  });
  it('when a probe was unsure (an error, not an answer), then the host is probed again after a backoff, and the better answer wins', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    let calls = 0;
    const { s, probes } = service(() => (calls++ === 0 ? { unsure: ['reflink'], notes: { reflink: 'the probe failed: container gone' } } : { reflink: true }));
    assert.equal((await s.strategy()).chosen, 'copy');
    assert.equal((await s.strategy()).chosen, 'copy', 'kept until the backoff passes');
    assert.equal(probes(), 1);
    t.mock.timers.tick(REPROBE_MIN_MS + 1);
    await s.strategy(); // starts the probe again
    assert.equal((await s.strategy()).chosen, 'reflink');
    assert.equal(probes(), 2);
  });
  it('when the host has the expected strategy, then it is not probed again', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const { s, probes } = service({ reflink: true });
    assert.equal((await s.strategy()).downgraded, false);
    t.mock.timers.tick(REPROBE_MIN_MS * 100);
    await s.strategy();
    assert.equal(probes(), 1);
  });
  it('when restore is configured, then restore is used even where clones work', async () => {
    assert.equal((await service({ reflink: true }, 'restore').s.strategy()).chosen, 'restore');
  });
});

describe('golden snapshot keys', () => {
  const spec = { image: 'r/pg:15', environment: { POSTGRES_USER: 'shop' }, dataTarget: '/var/lib/postgresql/data', user: 'shop', name: 'shop' };
  it('change with the dataset, the image digest and the settings, and only with them', () => {
    const k = SeedService.goldenKey('content', 'sha256:a', spec);
    assert.equal(SeedService.goldenKey('content', 'sha256:a', { ...spec, environment: { POSTGRES_USER: 'shop' } }), k);
    assert.notEqual(SeedService.goldenKey('content2', 'sha256:a', spec), k);
    assert.notEqual(SeedService.goldenKey('content', 'sha256:b', spec), k);
    assert.notEqual(SeedService.goldenKey('content', 'sha256:a', { ...spec, environment: { POSTGRES_USER: 'other' } }), k);
    assert.match(k, /^[0-9a-f]{32}$/);
  });
});
