/**
 * Forks for testers (issue 17, item 2): POST .../forks {for} gives <name>--<for> with the parent's
 * image digests and a copy of its current database; writes stay on their side; forks are listed
 * under their parent, count against admission, and go when the parent goes (reason
 * parent-destroyed); a fork past MAYFLY_FORK_DEPTH_MAX is refused naming the field and nothing is
 * created. Through REST, against real engines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { settledReady, startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { psql } from '../helpers/seed-checks.js';

const ALICE = 'alice-secret-0123456789'; // team qa
const BOB = 'bob-secret-0123456789'; // team platform
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });

describe('forks', () => {
  let h: Harness;
  let parent: string;
  let parentId: string;
  const rows = (envId: string) => psql(h, envId, `SELECT coalesce(string_agg(name, ',' ORDER BY id), '') FROM products WHERE name LIKE 'fork-test %'`);
  const settled = (name: string, res: { status: number; body: any }) => settledReady(h, name, res, as(ALICE));

  before(async () => {
    h = await startHarness({
      env: {
        MAYFLY_API_TOKENS: `alice:${ALICE},bob:${BOB}`,
        MAYFLY_TEAMS: 'qa=alice;platform=bob',
        MAYFLY_CLONE_STRATEGY: 'reflink',
        MAYFLY_FORK_DEPTH_MAX: '2',
        MAYFLY_MAX_ENVIRONMENTS: '3',
      },
    });
    parent = uniqueName('fk');
    // Long-polls under HTTP clients' header timeout, a few times: a loaded host is slow.
    parentId = (await settled(parent, await h.api('PUT', `/api/v1/environments/${parent}?wait=240`, { template: 'shop', ttl: '1h' }, as(ALICE)))).id;
  });
  after(async () => { await h.close(); });

  it('when an environment is forked, then the fork runs its digests on a copy of its current data, and writes stay on their side', async () => {
    await psql(h, parentId, `INSERT INTO products (name, price_cents) VALUES ('fork-test from parent', 1)`);
    const fork = await settled(`${parent}--alice`, await h.api('POST', `/api/v1/environments/${parent}/forks?wait=180`, { for: 'alice' }, as(ALICE)));
    assert.equal(fork.name, `${parent}--alice`);
    assert.deepEqual(fork.forkOf, { id: parentId, name: parent, depth: 1 });
    const p = (await h.api('GET', `/api/v1/environments/${parent}`, undefined, as(ALICE))).body;
    for (const [svc, digest] of Object.entries(p.digests as Record<string, string>)) {
      if (digest.includes('@sha256:')) assert.equal(fork.images[svc], digest, `the fork runs ${svc} by the parent's digest`);
      assert.equal(fork.digests[svc], digest, `the fork pulled the parent's ${svc}`);
    }
    assert.equal(await rows(fork.id), 'fork-test from parent', 'the fork sees the parent\'s row');

    await psql(h, fork.id, `INSERT INTO products (name, price_cents) VALUES ('fork-test only in fork', 2)`);
    await psql(h, parentId, `INSERT INTO products (name, price_cents) VALUES ('fork-test only in parent', 3)`);
    assert.equal(await rows(parentId), 'fork-test from parent,fork-test only in parent', 'the parent does not see the fork\'s write');
    assert.equal(await rows(fork.id), 'fork-test from parent,fork-test only in fork', 'the fork does not see the parent\'s later write');

    const listed = await h.api('GET', `/api/v1/environments/${parent}/forks`, undefined, as(ALICE));
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.forks.map((f: { name: string }) => f.name), [`${parent}--alice`]);
    const events = await h.store.events(fork.id);
    assert.ok(events.some((e) => e.type === 'cloned' && /parent environment's current database/.test(e.message)), 'the timeline says where its data came from');
  });

  it('when a fork is forked past MAYFLY_FORK_DEPTH_MAX, or "for" is bad, then 400 names the field and nothing is created', async () => {
    const second = await settled(`${parent}--alice--bob`, await h.api('POST', `/api/v1/environments/${parent}--alice/forks?wait=180`, { for: 'bob' }, as(ALICE)));
    assert.equal(second.forkOf.depth, 2);
    const count = async () => Number((await h.pool.query('SELECT count(*) FROM environments')).rows[0].count);
    const before = await count();
    const deep = await h.api('POST', `/api/v1/environments/${parent}--alice--bob/forks`, { for: 'carol' }, as(ALICE));
    assert.equal(deep.status, 400, JSON.stringify(deep.body));
    assert.equal(deep.body.error.details[0].field, 'name');
    assert.match(deep.body.error.details[0].message, /at most 2 deep \(MAYFLY_FORK_DEPTH_MAX\)/);
    for (const body of [{}, { for: 'Not OK' }, { for: 'a--b' }, { for: 'x'.repeat(31) + 'y' }]) {
      const res = await h.api('POST', `/api/v1/environments/${parent}/forks`, body, as(ALICE));
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.details[0].field, 'for', JSON.stringify(res.body));
    }
    const taken = await h.api('POST', `/api/v1/environments/${parent}/forks`, { for: 'alice' }, as(ALICE));
    assert.equal(taken.status, 409, JSON.stringify(taken.body));
    assert.equal(taken.body.error.code, 'NAME_TAKEN');
    const bob = await h.api('POST', `/api/v1/environments/${parent}/forks`, { for: 'bob' }, as(BOB));
    assert.equal(bob.status, 403, 'another team may not fork it');
    // Forks count against admission: the parent and two forks fill MAYFLY_MAX_ENVIRONMENTS=3.
    const full = await h.api('POST', `/api/v1/environments/${parent}/forks?queue=false`, { for: 'dave' }, as(ALICE));
    assert.equal(full.status, 429, JSON.stringify(full.body));
    assert.equal(full.body.error.code, 'CAPACITY_EXCEEDED');
    assert.equal(await count(), before, 'nothing was created');
  });

  it('when the parent is destroyed, then its forks (and theirs) go too, saying why', async () => {
    const forks = [`${parent}--alice`, `${parent}--alice--bob`];
    const ids = await Promise.all(forks.map(async (f) => (await h.api('GET', `/api/v1/environments/${f}`, undefined, as(ALICE))).body.id as string));
    const res = await h.api('DELETE', `/api/v1/environments/${parent}?wait=120`, undefined, as(ALICE));
    assert.equal(res.body.status, 'destroyed');
    for (const [i, f] of forks.entries()) {
      const gone = (await h.api('GET', `/api/v1/environments/${f}?wait=120`, undefined, as(ALICE))).body;
      assert.equal(gone.status, 'destroyed', f);
      assert.equal(gone.destroyReason, 'parent-destroyed', f);
      const { Volumes } = await h.docker.listVolumes({ filters: { label: [`mayfly.env=${ids[i]}`] } });
      assert.deepEqual((Volumes ?? []).map((v) => v.Name), [], `no volume of ${f} is left`);
    }
  });
});
