import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import request from 'supertest';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChangeFeed } from '../../core/store/change-feed.js';
import { createLogger } from '../../core/platform/log.js';
import { ListCache } from '../../api/list-cache.js';
import { AUTH, startHarness, type Harness } from '../helpers/harness.js';

describe('the environment list cache and its change feed (real PostgreSQL)', () => {
  let h: Harness;
  let feed: ChangeFeed;
  before(async () => {
    h = await startHarness({ worker: false });
    feed = new ChangeFeed(h.config.databaseUrl, createLogger('silent', 't'));
    await feed.start();
  });
  after(async () => { await feed.close(); await h.close(); });

  async function versionMoves(from: number): Promise<boolean> {
    for (let i = 0; i < 40 && feed.version === from; i++) await sleep(50);
    return feed.version !== from;
  }

  it('when nothing changes then the answer is computed once; when another connection commits a change then it is computed again', async () => {
    const cache = new ListCache(feed, 60_000);
    let computed = 0;
    const compute = async () => String(++computed);
    assert.equal((await cache.get('/k', compute)).text, '1');
    assert.equal((await cache.get('/k', compute)).text, '1', 'served from the cache');
    const before = feed.version;
    // A write by another process (here: a plain SQL statement on another connection).
    await h.pool.query("UPDATE environments SET owner = owner WHERE false");
    assert.ok(await versionMoves(before), 'the trigger notified the feed at commit');
    assert.equal((await cache.get('/k', compute)).text, '2', 'recomputed after the change');
  });

  it('when a transaction is rolled back then no notification arrives and the cache stays', async () => {
    const cache = new ListCache(feed, 60_000);
    let computed = 0;
    (await cache.get('/r', async () => String(++computed))).text;
    const before = feed.version;
    const c = await h.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query("UPDATE environments SET owner = owner WHERE false");
      await c.query('ROLLBACK');
    } finally { c.release(); }
    await sleep(300);
    assert.equal(feed.version, before);
    assert.equal((await cache.get('/r', async () => String(++computed))).text, '1');
  });

  it('when a write request is running then lists bypass the cache, and it is emptied when the write ends', async () => {
    const cache = new ListCache(feed, 60_000);
    let computed = 0;
    (await cache.get('/w', async () => String(++computed))).text;
    const res = new EventEmitter();
    let nexted = false;
    cache.writes()({ method: 'PUT' } as never, res as never, () => { nexted = true; });
    assert.ok(nexted);
    assert.equal((await cache.get('/w', async () => String(++computed))).text, '2', 'bypassed during the write');
    res.emit('close');
    assert.equal((await cache.get('/w', async () => String(++computed))).text, '3', 'emptied after the write');
    assert.equal((await cache.get('/w', async () => String(++computed))).text, '3');
  });

  it('when the feed is not live then nothing is cached', async () => {
    const down = new ChangeFeed('postgres://mayfly:mayfly@127.0.0.1:1/none', createLogger('silent', 't'));
    const cache = new ListCache(down, 60_000);
    let computed = 0;
    (await cache.get('/d', async () => String(++computed))).text;
    assert.equal((await cache.get('/d', async () => String(++computed))).text, '2');
    await down.close();
  });

  it('when a client creates an environment and lists right away then the list has it (read your writes through the API)', async () => {
    for (let i = 0; i < 5; i++) {
      assert.equal((await h.api('GET', '/api/v1/environments')).status, 200);
      const put = await h.api('PUT', `/api/v1/environments/cache-${i}`, { template: 'shop', tag: 'main' }, AUTH);
      assert.equal(put.status, 202, JSON.stringify(put.body));
      const list = await h.api('GET', '/api/v1/environments');
      assert.ok(list.body.environments.some((e: { name: string }) => e.name === `cache-${i}`), `cache-${i} listed right after its PUT`);
    }
  });
  it('when many requests miss at once then the answer is computed once for all of them', async () => {
    const cache = new ListCache(feed, 60_000);
    let computed = 0;
    const compute = async () => { computed++; await sleep(50); return `v${computed}`; };
    const answers = await Promise.all(Array.from({ length: 20 }, () => cache.get('/burst', compute)));
    assert.equal(computed, 1, 'one computation served the burst');
    assert.deepEqual(new Set(answers.map((a) => a.text)), new Set(['v1']));
  });

  it('when a client lists with the ETag it was given then it gets 304, and after a change a new ETag and the new list', async () => {
    // supertest, not fetch: fetch adds "Cache-Control: no-cache" to a conditional request (as the
    // Fetch standard says), and a server must then answer in full.
    const list = () => request(h.app).get('/api/v1/environments').set(AUTH);
    const first = await list();
    const etag = first.headers.etag;
    assert.ok(etag, 'the list has an ETag');
    assert.equal((await list().set('If-None-Match', etag)).status, 304);
    const put = await h.api('PUT', '/api/v1/environments/cache-etag', { template: 'shop', tag: 'main' }, AUTH);
    assert.equal(put.status, 202, JSON.stringify(put.body));
    const changed = await list().set('If-None-Match', etag);
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.etag, etag);
    assert.ok(changed.body.environments.some((e: { name: string }) => e.name === 'cache-etag'));
  });
});
