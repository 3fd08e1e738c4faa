import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HEAL_BACKOFF_BASE_MS, decideHeal, healBackoffMs } from '../../worker/jobs/heal-policy.js';

const WINDOW = 10 * 60_000;
const PER_WINDOW = 3;
const NOW = Date.parse('2026-12-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms);

describe('healing policy: heals per window with backoff', () => {
  it('when an environment was never healed (or its heals aged out of the window), then it is healed at once', () => {
    assert.deepEqual(decideHeal({ recent: 0, lastAt: undefined }, NOW, WINDOW, PER_WINDOW), { action: 'heal', attempt: 1 });
  });

  it('when the last heal is younger than the backoff, then it waits until the backoff is over', () => {
    const d = decideHeal({ recent: 1, lastAt: ago(1000) }, NOW, WINDOW, PER_WINDOW);
    assert.deepEqual(d, { action: 'wait', untilMs: NOW - 1000 + HEAL_BACKOFF_BASE_MS });
  });

  it('when the backoff is over, then it heals, counting the recent heals', () => {
    assert.deepEqual(decideHeal({ recent: 1, lastAt: ago(HEAL_BACKOFF_BASE_MS) }, NOW, WINDOW, PER_WINDOW), { action: 'heal', attempt: 2 });
  });

  it('when heals come one after another, then the backoff grows, but never past the window shared among its heals', () => {
    assert.equal(healBackoffMs(0, WINDOW, PER_WINDOW), 0);
    assert.equal(healBackoffMs(1, WINDOW, PER_WINDOW), HEAL_BACKOFF_BASE_MS);
    assert.equal(healBackoffMs(2, WINDOW, PER_WINDOW), 2 * HEAL_BACKOFF_BASE_MS);
    assert.ok(healBackoffMs(2, WINDOW, PER_WINDOW) > healBackoffMs(1, WINDOW, PER_WINDOW));
    assert.equal(healBackoffMs(20, WINDOW, PER_WINDOW), WINDOW / PER_WINDOW);
  });

  it('when it was healed as often as the window allows, then it gives up, however long ago the last heal was', () => {
    assert.deepEqual(decideHeal({ recent: 3, lastAt: ago(1000) }, NOW, WINDOW, PER_WINDOW), { action: 'give-up' });
    assert.deepEqual(decideHeal({ recent: 3, lastAt: ago(WINDOW - 1) }, NOW, WINDOW, PER_WINDOW), { action: 'give-up' });
  });
});
