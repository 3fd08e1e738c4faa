/**
 * Bug capsules (issue 17, item 1): a capsule of an environment keeps a copy of its database, its
 * image digests, rendered stack, timeline, last log lines and the router's request trail; it is
 * one downloadable archive, it outlives the environment, and it comes back up as a new
 * environment pinned to those digests with that data. Owned by the environment's team, limited
 * per team; bad input changes nothing. Through REST and the router, against real engines
 * (Docker, PostgreSQL, Redis, the registry).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { settledReady, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { psql } from '../helpers/seed-checks.js';
import { takenCapsule } from '../helpers/data-fixtures.js';
import { capsuleVolume } from '../../core/domain/names.js';

const ALICE = 'alice-secret-0123456789'; // team qa
const BOB = 'bob-secret-0123456789'; // team platform
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });
const LIMIT = 3;

describe('bug capsules', () => {
  let h: Harness;
  let name: string;
  let envId: string;
  let capsuleId: string;
  let restoredName: string;
  let dir: string;
  const taken: string[] = [];

  const capsule = async (id: string, secret = ALICE) => h.api('GET', `/api/v1/capsules/${id}`, undefined, as(secret));
  const readyCapsule = (id: string) => takenCapsule(h, id, as(ALICE));
  const teamCount = async () => Number((await h.pool.query(`SELECT count(*) AS n FROM capsules WHERE team = 'qa' AND status IN ('pending', 'ready')`)).rows[0].n);
  const volumeExists = (volume: string) => h.docker.getVolume(volume).inspect().then(() => true, () => false);

  before(async () => {
    h = await startHarness({
      env: {
        MAYFLY_API_TOKENS: `alice:${ALICE},bob:${BOB}`,
        MAYFLY_TEAMS: 'qa=alice;platform=bob',
        MAYFLY_CAPSULES_PER_TEAM: String(LIMIT),
      },
    });
    dir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-capsule-test-'));
    name = uniqueName('cap');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=240`, { template: 'shop', ttl: '1h' }, as(ALICE));
    envId = res.body.id;
    await settledReady(h, name, res, as(ALICE));
  });

  after(async () => {
    // Capsule volumes outlive environments by design: the test removes its own.
    for (const id of taken) await h.api('DELETE', `/api/v1/capsules/${id}`, undefined, as(ALICE)).catch(() => undefined);
    for (const id of taken) {
      const volume = capsuleVolume(h.config.instance, id);
      await waitUntil(`the volume of capsule ${id} to go`, 120_000, async () => !(await volumeExists(volume))).catch(async () => {
        await h.docker.getVolume(volume).remove({ force: true }).catch(() => undefined);
      });
    }
    for (const env of [name, restoredName]) if (env) await h.api('DELETE', `/api/v1/environments/${env}?wait=120`, undefined, as(ALICE)).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await h.close();
  });

  it('when a capsule is taken after a write and requests through the router, then it records the data, digests, stack, timeline, logs and the request trail without queries or headers', async () => {
    await psql(h, envId, `INSERT INTO products (name, price_cents) VALUES ('capsule-test kept', 4711)`);
    const address = `http://${name}.localhost:${h.routerPort}`;
    const viaRouter = async (p: string) => {
      const res = await fetch(`${address}${p}`, { headers: { ...as(ALICE), cookie: 'qa-session=cookie-secret-42' }, redirect: 'manual' });
      await res.text();
      return res.status;
    };
    assert.equal(await viaRouter('/api/products?token=query-secret-17&email=qa@example.com'), 200);
    const missingStatus = await viaRouter('/no-such-page?x=query-secret-18');
    // The router writes the trail when each answer is finished: seen before the capsule is asked for.
    await waitUntil('the router to record both requests', 30_000, async () => h.router.trail.recent(envId).length >= 2);

    const res = await h.api('POST', `/api/v1/environments/${name}/capsules`, { name: 'checkout-500', note: 'pay fails after coupon' }, as(ALICE));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.match(res.body.id, /^cap-[0-9a-f]{8}$/);
    capsuleId = res.body.id;
    taken.push(capsuleId);
    assert.equal(res.body.status, 'pending');
    assert.equal(res.headers.get('location'), `${h.config.publicUrl}/api/v1/capsules/${capsuleId}`);

    const c = await readyCapsule(capsuleId);
    const env = (await h.api('GET', `/api/v1/environments/${name}`, undefined, as(ALICE))).body;
    assert.deepEqual({ name: c.name, note: c.note, team: c.team, environment: c.environment, template: c.template, seed: c.seed, createdBy: c.createdBy },
      { name: 'checkout-500', note: 'pay fails after coupon', team: 'qa', environment: name, template: 'shop', seed: env.seed, createdBy: 'alice' });
    assert.deepEqual(c.digests, env.digests, 'the digests the environment ran');
    assert.ok(Object.values(c.digests as Record<string, string>).some((d) => d.includes('@sha256:')), `pulled by digest: ${JSON.stringify(c.digests)}`);
    assert.deepEqual(c.images, env.images);
    assert.equal(typeof c.pauseMs, 'number');
    assert.ok(c.sizeBytes > 1024 * 1024, `a PostgreSQL data directory: ${c.sizeBytes} bytes`);
    assert.ok(c.dumpBytes > 0, `a SQL dump was kept: ${c.dumpError}`);
    // The rendered stack, with its services; the database password left out (as a variable and in URLs).
    for (const svc of Object.keys(env.digests)) assert.match(c.stack, new RegExp(`name: ${svc}\\b`));
    const rendered = h.ctx.catalog.render('shop', { env: { id: envId, name, project: 'x' }, images: env.images }).services.flatMap((s) => Object.entries(s.environment));
    const dbPassword = rendered.find(([k]) => /PASSWORD/.test(k))?.[1];
    assert.ok(dbPassword, 'the shop template sets a database password');
    assert.match(c.stack, /POSTGRES_PASSWORD: \(left out of the capsule\)/);
    assert.ok(!c.stack.includes(`:${dbPassword}@`), 'no URL in the stack carries the password');
    // The timeline up to the capsule, and the last lines of each service's log.
    assert.ok(c.timeline.some((e: { type: string }) => e.type === 'ready'), 'the timeline has its ready event');
    assert.deepEqual(Object.keys(c.logs).sort(), Object.keys(env.digests).sort(), 'a log per service');
    assert.ok(Object.values(c.logs as Record<string, string>).some((text) => text.length > 0), 'the logs have lines');
    // The request trail: method, path without query, status, duration, time; nothing else.
    const trail = c.requests as { method: string; path: string; status: number; durationMs: number; at: string }[];
    const products = trail.find((r) => r.path === '/api/products');
    assert.ok(products, `the trail has the products request: ${JSON.stringify(trail)}`);
    assert.deepEqual({ method: products.method, status: products.status }, { method: 'GET', status: 200 });
    assert.ok(Number.isInteger(products.durationMs) && !Number.isNaN(Date.parse(products.at)));
    assert.ok(trail.some((r) => r.path === '/no-such-page' && r.status === missingStatus));
    for (const r of trail) assert.deepEqual(Object.keys(r).sort(), ['at', 'durationMs', 'method', 'path', 'status']);
    const text = JSON.stringify(c);
    for (const secret of ['query-secret-17', 'query-secret-18', 'qa@example.com', 'cookie-secret-42', ALICE]) assert.ok(!text.includes(secret), `the capsule does not hold "${secret}"`);
    // Its environment's timeline says so.
    const events = (await h.api('GET', `/api/v1/environments/${name}/events`, undefined, as(ALICE))).body.events as { type: string; message: string }[];
    assert.ok(events.some((e) => e.type === 'capsule' && e.message.includes(capsuleId)));
    // Listed under the environment.
    const list = await h.api('GET', `/api/v1/environments/${name}/capsules`, undefined, as(ALICE));
    assert.equal(list.status, 200);
    assert.equal(list.body.limit, LIMIT);
    assert.deepEqual(list.body.capsules.map((x: { id: string }) => x.id), [capsuleId]);
  });

  it('when the archive is downloaded, then it is one tar.gz with the manifest, stack, timeline, requests, each log and the database dump holding the row', async () => {
    const res = await fetch(`${h.baseUrl}/api/v1/capsules/${capsuleId}/archive`, { headers: as(ALICE) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/gzip');
    assert.match(res.headers.get('content-disposition') ?? '', new RegExp(`attachment; filename="${capsuleId}-checkout-500\\.tar\\.gz"`));
    const file = path.join(dir, 'capsule.tar.gz');
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    const entries = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n').sort();
    const env = (await h.api('GET', `/api/v1/environments/${name}`, undefined, as(ALICE))).body;
    assert.deepEqual(entries, ['database.sql.gz', 'manifest.json', 'requests.json', 'stack.yml', 'timeline.json',
      ...Object.keys(env.digests).map((s) => `logs/${s}.log`)].sort());
    execFileSync('tar', ['-xzf', file, '-C', dir]);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.id, capsuleId);
    assert.deepEqual(manifest.digests, env.digests);
    assert.match(manifest.restore, new RegExp(`--capsule ${capsuleId}`));
    const requests = JSON.parse(await readFile(path.join(dir, 'requests.json'), 'utf8'));
    assert.ok(requests.some((r: { path: string }) => r.path === '/api/products'));
    assert.ok(JSON.parse(await readFile(path.join(dir, 'timeline.json'), 'utf8')).some((e: { type: string }) => e.type === 'ready'));
    const sql = gunzipSync(await readFile(path.join(dir, 'database.sql.gz'))).toString('utf8');
    assert.match(sql, /CREATE TABLE public\.products/);
    assert.match(sql, /capsule-test kept/);
  });

  it('when the environment is destroyed and the capsule restored as a new environment, then it runs the capsule\'s digests on the capsule\'s data', async () => {
    // Written after the capsule: the restore must not have it.
    await psql(h, envId, `INSERT INTO products (name, price_cents) VALUES ('capsule-test later', 1)`);
    const parent = (await h.api('GET', `/api/v1/environments/${name}`, undefined, as(ALICE))).body;
    const gone = await h.api('DELETE', `/api/v1/environments/${name}?wait=120`, undefined, as(ALICE));
    assert.equal(gone.body.status, 'destroyed', JSON.stringify(gone.body));
    // The capsule outlives it: its record, its listing under the name, and its volume.
    assert.equal((await readyCapsule(capsuleId)).id, capsuleId);
    assert.ok(await volumeExists(capsuleVolume(h.config.instance, capsuleId)), 'the capsule\'s volume survived the teardown');
    assert.deepEqual((await h.api('GET', `/api/v1/environments/${name}/capsules`, undefined, as(ALICE))).body.capsules.map((x: { id: string }) => x.id), [capsuleId]);

    restoredName = uniqueName('bug');
    const res = await h.api('PUT', `/api/v1/environments/${restoredName}?wait=300`, { capsule: capsuleId, ttl: '1h' }, as(ALICE));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.action, 'created');
    const restored = await settledReady(h, restoredName, res, as(ALICE));
    assert.equal(restored.template, 'shop');
    assert.equal(restored.team, 'qa');
    for (const [svc, digest] of Object.entries(parent.digests as Record<string, string>)) {
      if (digest.includes('@sha256:')) assert.equal(restored.images[svc], digest, `${svc} is pinned to the capsule's digest`);
      assert.equal(restored.digests[svc], digest, `${svc} runs what the capsule recorded`);
    }
    const rows = await psql(h, restored.id, `SELECT coalesce(string_agg(name, ',' ORDER BY id), '') FROM products WHERE name LIKE 'capsule-test %'`);
    assert.equal(rows, 'capsule-test kept', 'the capsule\'s data, and nothing written after it');
    const events = (await h.api('GET', `/api/v1/environments/${restoredName}/events`, undefined, as(ALICE))).body.events as { type: string; message: string }[];
    assert.ok(events.some((e) => e.type === 'restored' && e.message.includes(capsuleId)), 'the timeline says where its data came from');
    // A name in use is never overwritten by a capsule.
    const again = await h.api('PUT', `/api/v1/environments/${restoredName}`, { capsule: capsuleId }, as(ALICE));
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'NAME_TAKEN');
  });

  it('when another team asks for the capsule, then it is refused and nothing changes', async () => {
    const before = await teamCount();
    const other = uniqueName('bob-bug');
    for (const [method, p, body] of [
      ['GET', `/api/v1/capsules/${capsuleId}`, undefined],
      ['GET', `/api/v1/capsules/${capsuleId}/archive`, undefined],
      ['DELETE', `/api/v1/capsules/${capsuleId}`, undefined],
      ['GET', `/api/v1/environments/${restoredName}/capsules`, undefined],
      ['POST', `/api/v1/environments/${restoredName}/capsules`, {}],
      ['PUT', `/api/v1/environments/${other}`, { capsule: capsuleId }],
    ] as const) {
      const res = await h.api(method, p, body, as(BOB));
      assert.equal(res.status, 403, `${method} ${p}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'FORBIDDEN');
    }
    assert.match((await capsule(capsuleId, BOB)).body.error.message, /belongs to team "qa"; bob \(team "platform"\) may not see it/);
    assert.equal((await h.api('GET', `/api/v1/environments/${other}`, undefined, as(BOB))).status, 404, 'nothing was created');
    assert.equal((await readyCapsule(capsuleId)).status, 'ready', 'the capsule is still there');
    assert.equal(await teamCount(), before);
    const denied = await h.pool.query(`SELECT action FROM audit_log WHERE actor = 'bob' AND outcome = 'denied' ORDER BY id`);
    assert.ok(denied.rows.some((r) => r.action === 'capsule.restore') && denied.rows.some((r) => r.action === 'capsule.delete'), 'the refusals are audited');
  });

  it('when a capsule is unknown, or a name, note or field is bad, then the answer names it and nothing changes', async () => {
    const before = await teamCount();
    const unknown = await h.api('GET', '/api/v1/capsules/cap-00000000', undefined, as(ALICE));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'CAPSULE_NOT_FOUND');
    assert.match(unknown.body.error.message, /no bug capsule "cap-00000000"/);
    assert.equal((await h.api('GET', '/api/v1/capsules/not-a-capsule', undefined, as(ALICE))).body.error.details[0].field, 'id');
    const nowhere = uniqueName('bug');
    const restore = await h.api('PUT', `/api/v1/environments/${nowhere}`, { capsule: 'cap-00000000' }, as(ALICE));
    assert.equal(restore.status, 404);
    assert.equal(restore.body.error.code, 'CAPSULE_NOT_FOUND');
    assert.equal(restore.body.error.details[0].field, 'capsule');
    const malformed = await h.api('POST', '/api/v1/environments', { capsule: 'yesterday' }, as(ALICE));
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.details[0].field, 'capsule');
    const mixed = await h.api('PUT', `/api/v1/environments/${nowhere}`, { capsule: capsuleId, template: 'shop' }, as(ALICE));
    assert.equal(mixed.status, 400);
    assert.equal(mixed.body.error.details[0].field, 'template');
    assert.equal((await h.api('GET', `/api/v1/environments/${nowhere}`, undefined, as(ALICE))).status, 404, 'nothing was created');
    for (const [body, field] of [[{ name: 'Bad Name!' }, 'name'], [{ name: 'x'.repeat(64) }, 'name'], [{ note: 42 }, 'note'], [{ note: 'n'.repeat(2001) }, 'note'], [{ secret: 'x' }, 'secret']] as const) {
      const res = await h.api('POST', `/api/v1/environments/${restoredName}/capsules`, body, as(ALICE));
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.deepEqual(res.body.error.details.map((d: { field: string }) => d.field), [field]);
    }
    assert.equal(await teamCount(), before, 'no capsule was recorded');
  });

  it('when the team holds its limit, then another capsule is refused with 409; a deleted one frees its place and its volume goes', async () => {
    while ((await teamCount()) < LIMIT) {
      const res = await h.api('POST', `/api/v1/environments/${restoredName}/capsules`, {}, as(ALICE));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.name, res.body.id, 'named by its id when no name is given');
      taken.push(res.body.id);
    }
    const over = await h.api('POST', `/api/v1/environments/${restoredName}/capsules`, { name: 'one-too-many' }, as(ALICE));
    assert.equal(over.status, 409, JSON.stringify(over.body));
    assert.equal(over.body.error.code, 'CAPSULES_LIMIT');
    assert.match(over.body.error.message, /MAYFLY_CAPSULES_PER_TEAM=3/);
    assert.equal(await teamCount(), LIMIT);
    assert.equal((await h.pool.query(`SELECT 1 FROM capsules WHERE name = 'one-too-many'`)).rowCount, 0);

    const last = taken[taken.length - 1]!;
    await readyCapsule(last);
    const volume = capsuleVolume(h.config.instance, last);
    assert.ok(await volumeExists(volume));
    const del = await h.api('DELETE', `/api/v1/capsules/${last}`, undefined, as(ALICE));
    assert.equal(del.status, 202, JSON.stringify(del.body));
    assert.equal(del.body.status, 'deleting');
    assert.equal((await capsule(last)).status, 404, 'gone at once for the API');
    await waitUntil(`the volume of ${last} to be removed`, 120_000, async () => !(await volumeExists(volume)));
    await waitUntil(`the record of ${last} to be removed`, 60_000, async () => (await h.pool.query('SELECT 1 FROM capsules WHERE id = $1', [last])).rowCount === 0);
    assert.equal(await teamCount(), LIMIT - 1, 'its place is free');
  });
});
