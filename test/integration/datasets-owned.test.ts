/**
 * Saved datasets are owned (issue 14, item 2): saving needs the right to manage the source
 * environment; a saved dataset records its owner, team, source and size; its team or an admin may
 * delete it (never while an environment started from it lives, never a seed-data/ one), and the
 * worker removes its volumes; each team has a count and a bytes limit. Through REST, the CLI (a
 * child process) and the web pages, against real engines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { productsFingerprint, psql } from '../helpers/seed-checks.js';
import { signIn } from '../helpers/web.js';

const ALICE = 'alice-secret-0123456789'; // team qa
const CAROL = 'carol-secret-0123456789'; // team qa
const BOB = 'bob-secret-0123456789'; // team platform
const ROOT = 'root-secret-0123456789'; // admin
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });
const SHIM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/mayfly.js');

function mayfly(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const { MAYFLY_URL: _u, MAYFLY_TOKEN: _t, ...rest } = process.env;
    execFile(process.execPath, [SHIM, ...args], { env: { ...rest, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The session cookie with the one-time message a form's redirect set (the test's cookie jar keeps only the session). */
const withFlash = (cookie: string, headers: Headers) => [cookie, ...headers.getSetCookie().filter((c) => c.startsWith('mayfly_flash=')).map((c) => c.split(';')[0]!)].join('; ');

interface Saved { name: string; kind: string; status: string; owner: string; team: string; sizeBytes: number | null; source: { environment: string; template: string }; error: string | null; canDelete: boolean }

function helpers(h: () => Harness) {
  /** Creates an environment and waits until it settles (long-polls under HTTP clients' header timeout; a loaded host is slow). */
  const ready = async (secret: string, name: string, body: Record<string, unknown>) => {
    let res = await h().api('PUT', `/api/v1/environments/${name}`, { ttl: '1h', ...body }, as(secret));
    assert.ok([200, 202].includes(res.status), JSON.stringify(res.body));
    for (let i = 0; i < 5 && !['ready', 'failed', 'destroyed'].includes(res.body.status); i++) {
      res = await h().api('GET', `/api/v1/environments/${name}?wait=240`, undefined, as(secret));
    }
    assert.equal(res.body.status, 'ready', JSON.stringify(res.body.failure));
    return res.body as { id: string; name: string; database: { snapshot: string | null } | null };
  };
  const saved = async (secret: string, name: string): Promise<Saved | undefined> => {
    const res = await h().api('GET', '/api/v1/seeds', undefined, as(secret));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.datasets.find((d: Saved) => d.name === name && d.kind === 'saved');
  };
  const save = (secret: string, env: string, dataset: string) => h().api('POST', `/api/v1/environments/${env}/snapshots`, { name: dataset }, as(secret));
  /** Saves and waits until the dataset is ready (fails at once, with its error, if the save fails). */
  const saveReady = async (secret: string, env: string, dataset: string): Promise<Saved> => {
    const res = await save(secret, env, dataset);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return waitUntil(`saved dataset ${dataset}`, 300_000, async () => {
      const d = await saved(secret, dataset);
      if (d?.status === 'failed') assert.fail(`the save of ${dataset} failed: ${d.error}`);
      return d?.status === 'ready' ? d : undefined;
    });
  };
  /** The Docker volumes of a saved dataset, by label. */
  const volumes = async (dataset: string): Promise<string[]> => {
    const { Volumes } = await h().docker.listVolumes({ filters: { label: [`mayfly.dataset=${dataset}`, `mayfly.instance=${h().config.instance}`] } });
    return (Volumes ?? []).map((v) => v.Name);
  };
  const records = async (dataset: string) => (await h().pool.query('SELECT status, team, created_by FROM seed_snapshots WHERE dataset = $1', [dataset])).rows;
  const gone = (dataset: string) => waitUntil(`the volumes of ${dataset} to be removed and its records marked removed`, 300_000, async () =>
    (await volumes(dataset)).length === 0 && (await records(dataset)).every((r) => r.status === 'removed'));
  return { ready, saved, save, saveReady, volumes, records, gone };
}

describe('saved datasets: owners, deleting and the count limit', () => {
  let h: Harness;
  let src: string;
  let srcId: string;
  const { ready, saved, save, saveReady, volumes, records, gone } = helpers(() => h);
  before(async () => {
    h = await startHarness({
      env: {
        MAYFLY_API_TOKENS: `alice:${ALICE},carol:${CAROL},bob:${BOB},root:${ROOT}`,
        MAYFLY_TEAMS: 'qa=alice,carol;platform=bob',
        MAYFLY_ADMINS: 'root',
        MAYFLY_SAVED_DATASETS_PER_TEAM: '2',
      },
    });
    src = uniqueName('qa-src');
    srcId = (await ready(ALICE, src, { template: 'shop' })).id;
    await psql(h, srcId, `INSERT INTO products (name, price_cents) VALUES ('evidence for the saved dataset', 4242)`);
  });
  after(async () => { await h.close(); });

  it('when a member saves an environment of its team, then the dataset lists its owner, team, size and source, and its volume carries its name', async () => {
    const ds = uniqueName('ds-own');
    const d = await saveReady(ALICE, src, ds);
    assert.equal(d.owner, 'alice');
    assert.equal(d.team, 'qa');
    assert.equal(typeof d.sizeBytes, 'number');
    assert.ok(d.sizeBytes! > 1024 * 1024, `the size of a PostgreSQL data directory in bytes: ${d.sizeBytes}`);
    assert.deepEqual(d.source, { environment: src, template: 'shop' });
    assert.equal(d.canDelete, true, 'its owner may delete it');
    assert.equal((await saved(BOB, ds))!.canDelete, false, 'another team may not');
    assert.equal((await saved(ROOT, ds))!.canDelete, true, 'an admin may');
    assert.equal((await volumes(ds)).length, 1, 'one golden volume labelled mayfly.dataset=<name>');
    const events = await h.store.events(srcId);
    assert.ok(events.some((e) => e.type === 'snapshot' && /owned by alice of team qa/.test(e.message)), 'the timeline says who owns it');
    // Cleaned up for the count limit further on.
    assert.equal((await h.api('DELETE', `/api/v1/seeds/${ds}`, undefined, as(ALICE))).status, 202);
    await gone(ds);
  });

  it('when another team saves the environment, then 403 names it and nothing is saved or queued', async () => {
    const ds = uniqueName('ds-stolen');
    const res = await save(BOB, src, ds);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'FORBIDDEN');
    assert.match(res.body.error.message, new RegExp(`"${src}" belongs to team "qa"`));
    assert.deepEqual(await records(ds), [], 'no record');
    assert.equal(await h.queues.lifecycle.getJob(`save-${srcId}-${ds}`), undefined, 'no save job');
    assert.deepEqual(await volumes(ds), []);
    assert.equal((await h.store.events(srcId)).filter((e) => e.type === 'snapshot' && e.message.includes(ds)).length, 0, 'the timeline shows no save');
  });

  it('when another team deletes a saved dataset, then 403 and it stays, volume and all', async () => {
    const ds = uniqueName('ds-keep');
    await saveReady(ALICE, src, ds);
    const res = await h.api('DELETE', `/api/v1/seeds/${ds}`, undefined, as(BOB));
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'FORBIDDEN');
    assert.match(res.body.error.message, new RegExp(`saved dataset "${ds}" belongs to team "qa"; bob \\(team "platform"\\)`));
    assert.equal((await saved(ALICE, ds))?.status, 'ready');
    assert.equal((await volumes(ds)).length, 1);
    assert.deepEqual((await records(ds)).map((r) => r.status), ['ready']);
    // An admin may: gone, and its volume removed.
    const admin = await h.api('DELETE', `/api/v1/seeds/${ds}`, undefined, as(ROOT));
    assert.equal(admin.status, 202, JSON.stringify(admin.body));
    assert.equal(admin.body.status, 'deleting');
    assert.equal(admin.body.volumes.length, 1);
    assert.equal(await saved(ALICE, ds), undefined, 'no longer listed at once');
    await gone(ds);
  });

  it('when an environment started from it is live, then deleting is 409 naming it; once it is destroyed, a member of the team deletes it and the volume goes', async () => {
    const ds = uniqueName('ds-used');
    await saveReady(ALICE, src, ds);
    const dev = uniqueName('qa-dev');
    const copy = await ready(ALICE, dev, { template: 'shop', seed: ds });
    assert.equal(await productsFingerprint(h, copy.id), await productsFingerprint(h, srcId), 'the copy has the saved rows');
    const busy = await h.api('DELETE', `/api/v1/seeds/${ds}`, undefined, as(CAROL));
    assert.equal(busy.status, 409, JSON.stringify(busy.body));
    assert.equal(busy.body.error.code, 'DATASET_IN_USE');
    assert.match(busy.body.error.message, new RegExp(`"${dev}"`));
    assert.deepEqual(busy.body.error.details.environments, [dev]);
    assert.equal((await volumes(ds)).length, 1, 'nothing removed');
    assert.equal((await saved(CAROL, ds))?.status, 'ready');

    assert.equal((await h.api('DELETE', `/api/v1/environments/${dev}?wait=240`, undefined, as(ALICE))).body.status, 'destroyed');
    const del = await h.api('DELETE', `/api/v1/seeds/${ds}`, undefined, as(CAROL));
    assert.equal(del.status, 202, JSON.stringify(del.body));
    assert.equal(del.body.owner, 'alice');
    assert.equal(del.body.team, 'qa');
    await gone(ds);
    const removal = (await h.store.events(srcId)).find((e) => e.type === 'dataset-deleted' && e.message.includes(ds));
    assert.ok(removal, 'the source environment\'s timeline says the dataset was removed');
    assert.match(removal.message, /deleted by carol: removed its volume mayfly-golden-/);
    const again = await h.api('DELETE', `/api/v1/seeds/${ds}`, undefined, as(CAROL));
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'DATASET_NOT_FOUND');
    const start = await h.api('PUT', `/api/v1/environments/${uniqueName('late')}`, { template: 'shop', seed: ds }, as(ALICE));
    assert.equal(start.status, 400, 'a deleted dataset cannot be started from');
  });

  it('when a seed-data dataset, a malformed name or an unknown one is deleted, then 409, 400 naming the field, and 404; nothing changes', async () => {
    const file = await h.api('DELETE', '/api/v1/seeds/demo', undefined, as(ROOT));
    assert.equal(file.status, 409, JSON.stringify(file.body));
    assert.equal(file.body.error.code, 'DATASET_IS_FILE');
    assert.match(file.body.error.message, /seed-data/);
    assert.ok(existsSync(path.join(h.config.seedsDir, 'demo')), 'the files stay');
    const bad = await h.api('DELETE', '/api/v1/seeds/Bad_Name', undefined, as(ALICE));
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'name');
    const unknown = await h.api('DELETE', `/api/v1/seeds/${uniqueName('never')}`, undefined, as(ALICE));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'DATASET_NOT_FOUND');
    const noToken = await h.api('DELETE', '/api/v1/seeds/demo', undefined, {});
    assert.equal(noToken.status, 401);
  });

  it('when the team holds its limit of saved datasets, then another save is 409 and nothing is queued; the CLI lists and deletes them', async () => {
    const a = uniqueName('ds-a');
    const b = uniqueName('ds-b');
    await saveReady(ALICE, src, a);
    await saveReady(CAROL, src, b);
    const c = uniqueName('ds-c');
    const over = await save(ALICE, src, c);
    assert.equal(over.status, 409, JSON.stringify(over.body));
    assert.equal(over.body.error.code, 'SAVED_DATASETS_LIMIT');
    assert.match(over.body.error.message, /team "qa" has 2 saved datasets.*MAYFLY_SAVED_DATASETS_PER_TEAM=2/);
    assert.deepEqual(await records(c), []);
    assert.equal(await h.queues.lifecycle.getJob(`save-${srcId}-${c}`), undefined);

    const env = { MAYFLY_URL: h.baseUrl, MAYFLY_TOKEN: ALICE };
    const ls = await mayfly(['datasets'], env);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /NAME +KIND +STATUS +OWNER +TEAM +SIZE +SOURCE +CREATED/);
    assert.match(ls.stdout, new RegExp(`${a} +saved +ready +alice +qa +\\d+(\\.\\d)? MiB +${src} \\(shop\\)`));
    assert.match(ls.stdout, new RegExp(`${b} +saved +ready +carol +qa `));
    assert.doesNotMatch(ls.stdout, /^demo /m, 'seed-data datasets only with --all');
    assert.match((await mayfly(['datasets', '--all'], env)).stdout, /^demo +dataset/m);

    const foreign = await mayfly(['datasets', 'rm', a], { ...env, MAYFLY_TOKEN: BOB });
    assert.equal(foreign.code, 1, foreign.stderr);
    assert.match(foreign.stderr, /FORBIDDEN/);
    assert.equal((await volumes(a)).length, 1);
    const file = await mayfly(['datasets', 'rm', 'demo'], env);
    assert.equal(file.code, 1);
    assert.match(file.stderr, /DATASET_IS_FILE/);
    const usage = await mayfly(['datasets', 'rm'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: mayfly/);
    assert.equal((await mayfly(['datasets', 'rm', 'Bad_Name'], env)).code, 2, 'the API calls the name invalid (400)');

    const rm = await mayfly(['datasets', 'rm', a], env);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout.trim(), `${a} deleted`);
    await gone(a);
    const twice = await mayfly(['datasets', 'rm', a], env);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /DATASET_NOT_FOUND/);
    // Room again: the team may save one more.
    const room = await save(ALICE, src, c);
    assert.equal(room.status, 202, JSON.stringify(room.body));
    await waitUntil(`saved dataset ${c}`, 300_000, async () => (await saved(ALICE, c))?.status === 'ready');
    assert.equal((await h.api('DELETE', `/api/v1/seeds/${c}`, undefined, as(ALICE))).status, 202);
    assert.equal((await h.api('DELETE', `/api/v1/seeds/${b}`, undefined, as(ALICE))).status, 202);
    await gone(b);
    await gone(c);
  });

  it('when the datasets page is opened, then it lists saved datasets with their owner, and deletes them with the form for those allowed', async () => {
    const ds = uniqueName('ds-page');
    await saveReady(ALICE, src, ds);
    const bob = await signIn(h.baseUrl, BOB);
    const seenByBob = await bob.get('/datasets');
    assert.equal(seenByBob.status, 200);
    assert.match(seenByBob.html, /<a href="\/datasets">Datasets<\/a>/, 'linked from the navigation');
    const row = new RegExp(`<tr data-dataset="${ds}">[\\s\\S]*?</tr>`).exec(seenByBob.html)?.[0];
    assert.ok(row, 'bob sees the dataset');
    assert.match(row, /<td data-label="Owner">alice<\/td>/);
    assert.match(row, /<td data-label="Team">qa<\/td>/);
    assert.match(row, /<td data-label="Size">\d+(\.\d)? MiB<\/td>/);
    assert.match(row, new RegExp(`<td data-label="Source"><a href="/environments/${src}">${src}</a> \\(shop\\)</td>`));
    assert.doesNotMatch(row, /action="\/datasets\/[^"]+\/delete"/, 'no delete button for another team');
    const refused = await bob.post(`/datasets/${ds}/delete`, { _csrf: await bob.csrf('/datasets') });
    assert.equal(refused.status, 303, 'the form answers with a redirect and a message');
    assert.match((await bob.get('/datasets', { cookie: withFlash(bob.cookie, refused.headers) })).html, /belongs to team &quot;qa&quot;/);
    assert.equal((await volumes(ds)).length, 1, 'still there');

    const carol = await signIn(h.baseUrl, CAROL);
    const page = await carol.get('/datasets');
    assert.match(page.html, new RegExp(`<form method="post" action="/datasets/${ds}/delete"`));
    const forged = await carol.post(`/datasets/${ds}/delete`, { _csrf: 'not-the-token' });
    assert.equal(forged.status, 403, 'without the session\'s CSRF token the form is refused');
    assert.equal((await saved(CAROL, ds))?.status, 'ready');
    const del = await carol.post(`/datasets/${ds}/delete`, { _csrf: await carol.csrf('/datasets') });
    assert.equal(del.status, 303);
    assert.equal(del.headers.get('location'), '/datasets');
    const after = await carol.get('/datasets', { cookie: withFlash(carol.cookie, del.headers) });
    assert.match(after.html, new RegExp(`Deleted saved dataset ${ds}`));
    assert.doesNotMatch(after.html, new RegExp(`data-dataset="${ds}"`));
    await gone(ds);
  });

  it('when a deletion was recorded but its removal job was lost, then the reconciler removes the volume', async () => {
    const ds = uniqueName('ds-lost');
    await saveReady(ALICE, src, ds);
    // As if the DELETE was recorded and Redis then lost its job: only the record says to remove it.
    await h.pool.query(`UPDATE seed_snapshots SET status = 'deleting', deleted_by = 'alice', deleted_at = now() - interval '1 hour' WHERE dataset = $1`, [ds]);
    assert.equal((await volumes(ds)).length, 1);
    await gone(ds);
    assert.ok((await h.store.events(srcId)).some((e) => e.type === 'dataset-deleted' && e.message.includes(ds) && /deleted by alice/.test(e.message)));
  });
});

describe('saved datasets: the bytes limit', () => {
  let h: Harness;
  const { ready, saved, save, volumes, records } = helpers(() => h);
  before(async () => {
    h = await startHarness({ env: { MAYFLY_API_TOKENS: `alice:${ALICE}`, MAYFLY_TEAMS: 'qa=alice', MAYFLY_SAVED_BYTES_PER_TEAM: '1m' } });
  });
  after(async () => { await h.close(); });

  it('when a save would pass the team\'s bytes, then it is refused before it is queued (413), and the save job refuses it with the real size', async () => {
    const src = uniqueName('big-src');
    const env = await ready(ALICE, src, { template: 'shop' });
    const before = await productsFingerprint(h, env.id);
    const ds = uniqueName('ds-big');
    const over = await save(ALICE, src, ds);
    assert.equal(over.status, 413, JSON.stringify(over.body));
    assert.equal(over.body.error.code, 'SAVED_BYTES_LIMIT');
    assert.match(over.body.error.message, /team "qa" holds 0 B of saved datasets; this one \(estimated from its seed\) is .* over the team's limit of 1 MiB \(MAYFLY_SAVED_BYTES_PER_TEAM\)/);
    assert.deepEqual(await records(ds), [], 'nothing saved or queued');
    assert.equal(await h.queues.lifecycle.getJob(`save-${env.id}-${ds}`), undefined);

    // The estimate says it fits (as a seed far smaller than what the environment now holds would):
    // the job measures the real copy and refuses it.
    await h.pool.query('UPDATE seed_snapshots SET size_bytes = 1 WHERE key = $1', [env.database!.snapshot]);
    const queued = await save(ALICE, src, ds);
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    const failed = await waitUntil('the save to fail', 300_000, async () => {
      const d = await saved(ALICE, ds);
      return d?.status === 'failed' ? d : undefined;
    });
    assert.match(failed.error!, /this one is \d+(\.\d)? MiB, over the team's limit of 1 MiB \(MAYFLY_SAVED_BYTES_PER_TEAM\)/);
    assert.deepEqual(await volumes(ds), [], 'the refused copy is removed');
    const events = await h.store.events(env.id);
    assert.ok(events.some((e) => e.type === 'snapshot' && e.message.includes(`saving the database as "${ds}" failed`) && e.message.includes('MAYFLY_SAVED_BYTES_PER_TEAM')),
      'the timeline says why the save failed');
    assert.equal((await h.store.getById(env.id))!.status, 'ready', 'the source environment is back');
    assert.equal(await productsFingerprint(h, env.id), before);
    // A refused save is not startable, and its name is free.
    const start = await h.api('PUT', `/api/v1/environments/${uniqueName('late')}`, { template: 'shop', seed: ds }, as(ALICE));
    assert.equal(start.status, 400);
    const cleanup = await h.api('DELETE', `/api/v1/seeds/${ds}`, undefined, as(ALICE));
    assert.equal(cleanup.status, 202, 'the failed record can be deleted');
  });
});
