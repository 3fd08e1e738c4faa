/**
 * The change feed (LISTEN/NOTIFY) that live waits use instead of polling: a committed status
 * change and a new timeline event each wake a waiter; a change made between a reader's read and
 * its wait is not missed; ?wait= and the event stream answer on it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeFeed } from '../../core/store/change-feed.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';
import { startHarness, TEST_ACTOR, uniqueName, type Harness } from '../helpers/harness.js';

const HOUR = 3_600_000;

describe('the change feed wakes live waits', () => {
  let h: Harness;
  let feed: ChangeFeed;
  before(async () => {
    h = await startHarness({ worker: false, env: { MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR } });
    feed = new ChangeFeed(h.config.databaseUrl, h.ctx.logger);
    await feed.start();
  });
  after(async () => { await feed.close(); await h.close(); });

  const record = async () => (await h.ctx.environments.recordDeploy(TEST_ACTOR,
    { name: uniqueName('feed'), template: 'tiny', owner: 'test', images: h.ctx.catalog.resolveImages('tiny', undefined, {}), seed: null, ttlSeconds: 600 },
    { ttlGiven: true })).env;

  it('when a timeline event or a status change is committed, then a waiter with an hour to wait wakes', async () => {
    const env = await record();
    const woken = feed.next(HOUR);
    await h.store.addEvent(env.id, 'note', 'a progress line');
    await woken; // only the notification can resolve it within the test's timeout

    const again = feed.next(HOUR);
    await h.store.transition(env.id, 'provisioning', { event: { type: 'provisioning', message: 'go' } });
    await again;
  });

  it('when a change is committed after the reader looked but before it waits, then the wait returns at once', async () => {
    const env = await record();
    const seen = feed.tick;
    await h.store.addEvent(env.id, 'note', 'between the read and the wait');
    // The notification arrives asynchronously: wait for it to be counted, then the stale tick resolves at once.
    while (feed.tick === seen) await feed.next(HOUR);
    await feed.next(HOUR, { since: seen });
  });

  it('when a GET waits with ?wait= for an environment that a worker moves on, then it answers with the settled status', async () => {
    const env = await record();
    const answer = h.api('GET', `/api/v1/environments/${env.name}?wait=600`);
    await h.store.transition(env.id, 'provisioning', { event: { type: 'provisioning', message: 'go' } });
    await h.store.transition(env.id, 'failed', { set: { failure_code: 'TEST', failure_message: 'stopped by the test' }, event: { type: 'failed', message: 'failed' } });
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'failed');
  });
});
