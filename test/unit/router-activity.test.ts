import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityRecorder } from '../../api/router/activity.js';
import { createLogger } from '../../core/platform/log.js';
import type { EnvironmentStore } from '../../core/store/environments.js';

/** A stand-in for the one store method the recorder uses; fails while `down` is set. */
function fakeStore() {
  const writes: Map<string, Date>[] = [];
  const store = {
    down: false,
    writes,
    async recordActivity(batch: Map<string, Date>) {
      if (store.down) throw new Error('postgres is down');
      writes.push(new Map(batch));
    },
  };
  return store;
}

describe('router activity', () => {
  it('when requests come in then one write per flush carries the latest time per environment', async () => {
    const store = fakeStore();
    const rec = new ActivityRecorder(store as unknown as EnvironmentStore, createLogger('silent', 't'), 60_000);
    rec.touch('a'); rec.touch('b'); rec.touch('a');
    await rec.flush();
    assert.equal(store.writes.length, 1);
    assert.deepEqual([...store.writes[0]!.keys()].sort(), ['a', 'b']);
    await rec.flush();
    assert.equal(store.writes.length, 1, 'nothing new, nothing written');
    await rec.close();
  });
  it('when a write fails then the activity is kept for the next flush', async () => {
    const store = fakeStore();
    const rec = new ActivityRecorder(store as unknown as EnvironmentStore, createLogger('silent', 't'), 60_000);
    rec.touch('a');
    store.down = true;
    await rec.flush();
    assert.equal(store.writes.length, 0);
    store.down = false;
    rec.touch('b');
    await rec.close();
    assert.deepEqual([...store.writes[0]!.keys()].sort(), ['a', 'b'], 'close() flushes what is left, including the failed batch');
  });
});
