import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFailures, TooManyFailuresError } from '../../api/middleware/auth-failures.js';

describe('wrong tokens per address (AuthFailures)', () => {
  it('when an address sends `max` wrong tokens within the window, then it is blocked until the window has passed, and other addresses are not', () => {
    let now = 1_000_000;
    const f = new AuthFailures(3, 60_000, 100, () => now);
    for (let i = 0; i < 2; i++) f.failed('10.0.0.1');
    assert.equal(f.blockedFor('10.0.0.1'), 0, 'two failures of three: still allowed');
    f.failed('10.0.0.1');
    assert.equal(f.blockedFor('10.0.0.1'), 60);
    assert.throws(() => f.check('10.0.0.1'), (err: unknown) => err instanceof TooManyFailuresError && err.status === 429 && err.retryAfterSeconds === 60);
    assert.equal(f.blockedFor('10.0.0.2'), 0, 'another address is not blocked');
    now += 30_000;
    assert.equal(f.blockedFor('10.0.0.1'), 30);
    now += 30_001;
    assert.equal(f.blockedFor('10.0.0.1'), 0, 'free again once the window has passed');
    f.failed('10.0.0.1');
    assert.equal(f.blockedFor('10.0.0.1'), 0, 'a new window starts with one failure');
  });

  it('when it is off (max 0), then nothing is ever blocked', () => {
    const f = new AuthFailures(0);
    for (let i = 0; i < 100; i++) f.failed('10.0.0.1');
    assert.equal(f.blockedFor('10.0.0.1'), 0);
  });

  it('when more addresses fail than it tracks, then the oldest is forgotten (memory stays bounded)', () => {
    const f = new AuthFailures(1, 60_000, 2);
    f.failed('a'); f.failed('b'); f.failed('c');
    assert.equal(f.blockedFor('a'), 0, 'forgotten');
    assert.ok(f.blockedFor('b') > 0 && f.blockedFor('c') > 0);
  });
});
