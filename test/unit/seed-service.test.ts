import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import type { DatasetCatalog } from '../../core/seeds.js';
import type { SnapshotStore } from '../../core/store/snapshots.js';
import type { ProbeResult, SnapshotEngine } from '../../worker/seeds/engine.js';
import { SeedService } from '../../worker/seeds/seed-service.js';

/** A fake of our own SnapshotEngine port: only probe() matters for choosing a strategy. */
function service(probe: Partial<ProbeResult>, strategy = 'auto') {
  const facts: Record<string, unknown> = {};
  let probes = 0;
  const engine = { probe: async () => { probes++; return { reflink: false, overlay: false, copy: true, notes: {}, ...probe }; } } as unknown as SnapshotEngine;
  const snapshots = { setFact: async (k: string, v: unknown) => { facts[k] = v; } } as unknown as SnapshotStore;
  const s = new SeedService(loadConfig({ MAYFLY_CLONE_STRATEGY: strategy }), {} as DatasetCatalog, snapshots, engine, createLogger('silent', 't'));
  return { s, facts, probes: () => probes };
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
