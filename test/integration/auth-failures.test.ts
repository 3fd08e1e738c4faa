/**
 * Wrong tokens are limited per client address (MAYFLY_AUTH_FAILURES_PER_MINUTE), on the API and
 * the sign-in page together; behind a trusted proxy, per forwarded address.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { AUTH, startHarness, type Harness } from '../helpers/harness.js';
import { visitor } from '../helpers/web.js';

describe('too many wrong tokens', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ worker: false, env: { MAYFLY_AUTH_FAILURES_PER_MINUTE: '5', MAYFLY_TRUSTED_PROXIES: '127.0.0.1' } });
  });
  after(async () => { await h.close(); });

  const list = (token: string, from: string) => request(h.app).get('/api/v1/environments').set('Authorization', `Bearer ${token}`).set('X-Forwarded-For', from);

  it('when one address sends 5 wrong tokens, then it gets 429 with Retry-After even with a valid token, and changes nothing; another address still gets in', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await list(`wrong-${i}-0123456789`, '203.0.113.7')).status, 401);
    const blocked = await list(AUTH.Authorization.slice(7), '203.0.113.7');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.body.error.code, 'TOO_MANY_FAILED_SIGN_INS');
    assert.ok(Number(blocked.headers['retry-after']) > 0 && Number(blocked.headers['retry-after']) <= 60, blocked.headers['retry-after']);
    const put = await request(h.app).put('/api/v1/environments/blocked-one').set('Authorization', AUTH.Authorization).set('X-Forwarded-For', '203.0.113.7').send({ template: 'shop' });
    assert.equal(put.status, 429);
    assert.equal(await h.store.getByName('blocked-one'), undefined, 'nothing was recorded');

    assert.equal((await list(AUTH.Authorization.slice(7), '198.51.100.9')).status, 200, 'another address is not blocked');
  });

  it('when the sign-in page gets wrong tokens, then they count too, and the page says when to try again', async () => {
    const v = visitor(h.baseUrl);
    const from = { 'X-Forwarded-For': '192.0.2.44' };
    for (let i = 0; i < 5; i++) {
      const res = await v.post('/sign-in', { _csrf: await v.csrf(), token: `nope-${i}`, next: '/' }, from);
      assert.equal(res.status, 401);
    }
    const res = await v.post('/sign-in', { _csrf: await v.csrf(), token: AUTH.Authorization.slice(7), next: '/' }, from);
    assert.equal(res.status, 429);
    assert.match(res.html, /Too many wrong tokens from your address\. Try again in \d+ s\./);
    assert.equal((await list(AUTH.Authorization.slice(7), '192.0.2.44')).status, 429, 'the API shares the count');
  });
});
