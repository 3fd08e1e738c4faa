import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PullProgress } from '../../worker/runtime/docker/pull-progress.js';

describe('pull progress for the timeline', () => {
  it('when an image pulls with hundreds of chunk events, then the timeline gets layers and bytes about once a second, and the final count', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 10_000 });
    const told: string[] = [];
    const p = new PullProgress('r/app:1', (m) => told.push(m), 1000);
    p.seen({ status: 'Pulling from app' });
    for (const id of ['a', 'b']) p.seen({ id, status: 'Pulling fs layer' });
    for (let i = 1; i <= 400; i++) {
      p.seen({ id: i % 2 ? 'a' : 'b', status: 'Downloading', progressDetail: { current: i * 50_000, total: 20_000_000 } });
      t.mock.timers.tick(10); // 400 events over 4 s
    }
    p.seen({ id: 'a', status: 'Pull complete' });
    p.seen({ id: 'b', status: 'Pull complete' });
    p.seen({ status: 'Status: Downloaded newer image for r/app:1' });
    p.done();
    assert.equal(told[0], 'r/app:1: Pulling from app');
    const counts = told.filter((m) => m.startsWith('pulling '));
    assert.ok(counts.length >= 4 && counts.length <= 6, `about one line a second over 4 s: ${counts.length}\n${told.join('\n')}`);
    assert.match(counts[1]!, /^pulling r\/app:1: 0 of 2 layers, \d+\.\d of 40\.0 MB$/);
    assert.ok(told.includes('pulling r/app:1: 2 of 2 layers, 40.0 of 40.0 MB'), told.join('\n'));
    assert.equal(told.at(-1), 'r/app:1: Status: Downloaded newer image for r/app:1');
  });
});
