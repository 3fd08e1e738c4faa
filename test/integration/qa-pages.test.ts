/**
 * The QA pages of issue 19 over HTTP, against the real registry (127.0.0.1:5000, which holds
 * mayfly/shop at main, pr-1 and pr-2) and a real PostgreSQL: the tag picker and the check before
 * queueing, "another one like this", the grouped timeline, the overview and the list's order.
 * No worker runs here: environments are moved on by the store and admission, as the worker would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN, startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { signIn, type Browserless } from '../helpers/web.js';
import { assertTagsNamedExist } from '../helpers/registry-tags.js';
import { RegistryTags } from '../../core/catalog/registry-tags.js';

const OTHER = { Authorization: 'Bearer other-secret-0123456789' };

/** The text of an element with this id (tags stripped), for assertions on what a person reads. */
function textOf(html: string, id: string): string {
  const m = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</(?:p|section|dd|ol|table)>`).exec(html);
  return m ? m[1]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim()
    .replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') : '';
}

describe('QA pages that know what exists (HTTP level)', () => {
  let h: Harness;
  let v: Browserless;
  before(async () => {
    h = await startHarness({ worker: false, env: { MAYFLY_MAX_ENVIRONMENTS: '2', MAYFLY_MAX_ENVIRONMENTS_PER_OWNER: '1' } });
    v = await signIn(h.baseUrl, TOKEN);
  });
  after(async () => { await h?.close(); });

  const count = async () => Number((await h.pool.query('SELECT count(*) AS n FROM environments')).rows[0].n);

  /** As the worker would: admitted (holding capacity), then ready. */
  async function runReady(name: string): Promise<void> {
    const env = (await h.store.getByName(name))!;
    assert.equal((await h.ctx.admission.tryStart(env.id, env.generation, 'provisioning started')).outcome, 'started');
    assert.ok(await h.store.transition(env.id, 'ready', { set: { ready_at: new Date() }, event: { type: 'ready', message: 'ready' } }));
  }

  it('when the form is opened, then each image offers the tags the registry holds, newest first with push times, and free text stays', async () => {
    const res = await v.get('/environments/new?template=shop');
    assert.equal(res.status, 200);
    const all = /<datalist id="tags-all">([\s\S]*?)<\/datalist>/.exec(res.html);
    assert.ok(all, 'the one-tag field has a datalist');
    const offered = [...all[1]!.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]);
    for (const tag of ['main', 'pr-1', 'pr-2']) assert.ok(offered.includes(tag), `${tag} is offered: ${offered.join(', ')}`);
    assert.match(res.html, /<input id="tag" name="tag" value="" [^>]*list="tags-all"/, 'the field stays a text input with suggestions');
    assert.match(res.html, /<datalist id="tags-db">[\s\S]*?<option value="15"/, 'the database image offers its own tags');
    // Newest first: the push times in the table never increase down the list.
    const shop = /<table class="compact" data-service="web">([\s\S]*?)<\/table>/.exec(res.html)![1]!;
    const times = [...shop.matchAll(/<time datetime="([^"]+)"/g)].map((m) => Date.parse(m[1]!));
    assert.ok(times.length >= 3, 'the registry gives push times');
    for (let i = 1; i < times.length; i++) assert.ok(times[i - 1]! >= times[i]!, 'newest first');
    // The order is the registry's: the same as asking it directly.
    const direct = await new RegistryTags({ registry: h.config.registry }).tagsOf('127.0.0.1:5000/mayfly/shop:main');
    assert.ok(direct.checked);
    assert.deepEqual(offered, direct.tags.map((t) => t.tag));
  });

  it('when the form asks for an unknown tag, a tag of another repository or a TTL beyond the maximum, then the field says so and nothing is created', async () => {
    const before = await count();
    const csrf = await v.csrf('/environments/new');
    const unknown = await v.post('/environments', { _csrf: csrf, template: 'shop', name: uniqueName('typo'), tag: 'pr-9', seed: 'demo', ttl: '1h' });
    assert.equal(unknown.status, 400);
    const said = textOf(unknown.html, 'tag-error');
    assert.match(said, /"pr-9" is not a tag of 127\.0\.0\.1:5000\/mayfly\/shop\. Tags it has, newest first: \S/);
    await assertTagsNamedExist(said);
    assert.match(unknown.html, /<input id="tag" name="tag" value="pr-9"/, 'what was typed is kept');

    const elsewhere = await v.post('/environments', { _csrf: csrf, template: 'shop', tag: '15', seed: 'demo' });
    assert.equal(elsewhere.status, 400);
    assert.match(textOf(elsewhere.html, 'tag-error'), /"15" is not a tag of 127\.0\.0\.1:5000\/mayfly\/shop; it is a tag of 127\.0\.0\.1:5000\/mayfly\/postgres \(the image of db\)/);

    const perService = await v.post('/environments', { _csrf: csrf, template: 'shop', 'images.web': '15', seed: 'demo' });
    assert.equal(perService.status, 400);
    assert.match(textOf(perService.html, 'img-web-error'), /"15" is not a tag of 127\.0\.0\.1:5000\/mayfly\/shop/);

    const tooLong = await v.post('/environments', { _csrf: csrf, template: 'shop', tag: 'pr-1', ttl: '48h', seed: 'demo' });
    assert.equal(tooLong.status, 400);
    assert.match(textOf(tooLong.html, 'ttl-error'), /longer than the template's maximum/);
    const both = await v.post('/environments', { _csrf: csrf, template: 'shop', tag: 'pr-9', ttl: '48h', seed: 'demo' });
    assert.equal(both.status, 400);
    assert.match(textOf(both.html, 'tag-error'), /"pr-9" is not a tag/, 'the tag problem shows beside the TTL problem');
    assert.match(textOf(both.html, 'ttl-error'), /longer than the template's maximum/);
    assert.equal(await count(), before, 'nothing was created');

    const name = uniqueName('good');
    const good = await v.post('/environments', { _csrf: csrf, template: 'shop', name, tag: 'pr-2', seed: 'demo', ttl: '1h' });
    assert.equal(good.status, 303, good.html);
    const made = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(made.body.images.web, '127.0.0.1:5000/mayfly/shop:pr-2');
    await h.api('DELETE', `/api/v1/environments/${name}`);
  });

  it('when "another one like this" is followed, then the form holds its template, tags, seed and TTL and a free new name; a saved dataset prefills the seed', async () => {
    const name = uniqueName('like');
    const made = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-2', images: { db: '15' }, seed: 'demo', ttl: '2h30m' });
    assert.equal(made.status, 202, JSON.stringify(made.body));
    // A live one already has the first suggestion: the next is taken.
    assert.equal((await h.api('PUT', `/api/v1/environments/${name}-2`, { template: 'shop' })).status, 202);
    const detail = await v.get(`/environments/${name}`);
    assert.match(detail.html, new RegExp(`<a class="button" id="another-like-this" href="/environments/new\\?from=${name}">Another one like this</a>`));
    const form = await v.get(`/environments/new?from=${name}`);
    assert.equal(form.status, 200);
    assert.match(form.html, new RegExp(`Filled in like <a href="/environments/${name}">${name}</a>`));
    assert.match(form.html, /<option value="shop" selected>/);
    assert.match(form.html, /<input id="tag" name="tag" value="pr-2"/);
    assert.match(form.html, new RegExp(`<input id="name" name="name" value="${name}-3"`));
    assert.match(form.html, /<input id="ttl" name="ttl" value="2h30m"/);
    assert.match(form.html, /<option value="demo" selected>/);
    // Sent as it is, it asks for the same images.
    const copy = await v.post('/environments', { _csrf: await v.csrf('/environments/new'), template: 'shop', name: `${name}-3`, tag: 'pr-2', 'images.db': /name="images.db" value="([^"]*)"/.exec(form.html)![1]!, seed: 'demo', ttl: '2h30m' });
    assert.equal(copy.status, 303, copy.html);
    const [a, b] = await Promise.all([h.api('GET', `/api/v1/environments/${name}`), h.api('GET', `/api/v1/environments/${name}-3`)]);
    assert.deepEqual(b.body.images, a.body.images);
    assert.equal(b.body.seed, a.body.seed);
    assert.equal(b.body.ttl, '2h30m');

    // A dataset saved from it: its page links a form with that seed chosen.
    const env = (await h.store.getByName(name))!;
    const dataset = uniqueName('saved');
    await h.ctx.snapshots.begin({ key: `saved-${dataset}`, dataset, kind: 'saved', template: 'shop', contentHash: dataset, image: 'x', imageDigest: 'x', volume: `v-${dataset}`, sourceEnv: env.id, createdBy: 'test' });
    await h.ctx.snapshots.markReady(`saved-${dataset}`, 1, 1);
    const withSaved = await v.get(`/environments/${name}`);
    assert.match(withSaved.html, new RegExp(`href="/environments/new\\?template=shop&amp;seed=${dataset}"[^>]*>New environment with this data</a>`));
    const seeded = await v.get(`/environments/new?template=shop&seed=${dataset}`);
    assert.match(seeded.html, new RegExp(`<option value="${dataset}" selected>`));
  });

  it('when an environment has many events, then its page shows the latest rows with repeated progress grouped and a "show all" link that works without JavaScript', async () => {
    const name = uniqueName('chatty');
    assert.equal((await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-1' })).status, 202);
    const env = (await h.store.getByName(name))!;
    for (let i = 1; i <= 37; i++) await h.store.addEvent(env.id, 'progress', `pulling 127.0.0.1:5000/mayfly/shop:pr-1: ${i} of 37 layers`, { step: 'pull' });
    for (let i = 1; i <= 30; i++) await h.store.addEvent(env.id, 'note', `heal ${i}`);
    const page = await v.get(`/environments/${name}`);
    const rows = /<ol id="timeline" class="timeline">([\s\S]*?)<\/ol>\s*(?:<p|<\/section)/.exec(page.html)![1]!;
    const top = rows.split('\n').filter((l) => /^\s{4}<li /.test(l));
    assert.equal(top.length, 20, 'the latest 20 rows');
    assert.match(top.at(-1)!, /heal 30/);
    assert.doesNotMatch(rows, /heal 10</, 'older rows are left out');
    assert.match(textOf(page.html, 'timeline-info'), /The latest 20 of 68 events/);
    assert.match(page.html, new RegExp(`<a id="timeline-all" href="/environments/${name}\\?events=all#timeline-h">Show all 68 events</a>`));

    const all = await v.get(`/environments/${name}?events=all`);
    const allRows = /<ol id="timeline" class="timeline">([\s\S]*?)<\/ol>\s*(?:<p|<\/section)/.exec(all.html)![1]!;
    assert.equal(allRows.split('\n').filter((l) => /^\s{4}<li /.test(l)).length, 32, 'requested, the progress group, 30 heals');
    assert.match(allRows, /<span class="etype">pull progress <span class="count">×37<\/span><\/span> <span class="emsg">pulling 127.0.0.1:5000\/mayfly\/shop:pr-1: 37 of 37 layers<\/span>/);
    assert.equal([...allRows.matchAll(/<li data-event-id="/g)].length, 68, 'every event is there, the grouped ones inside their group');
    assert.match(textOf(all.html, 'timeline-info'), /All 68 events/);
    // The live stream still carries every event after the page's last one.
    assert.match(page.html, new RegExp(`data-live="/environments/${name}/live\\?lastEventId=\\d+"`));
  });

  it('when environments run, wait and fail, then the overview shows them against the limits, the queue with positions and estimates, the failures with reasons, and 24-hour charts', async () => {
    await h.pool.query(`UPDATE environments SET status = 'destroyed', holds_capacity = false, destroyed_at = now() WHERE status <> 'destroyed'`);
    const mine = uniqueName('ov-mine');
    const theirs = uniqueName('ov-theirs');
    const waits = uniqueName('ov-waits');
    const broke = uniqueName('ov-broke');
    // One that failed while provisioning (its capacity given back), then two running and one waiting.
    assert.equal((await h.api('PUT', `/api/v1/environments/${broke}`, { template: 'shop' }, OTHER)).status, 202);
    const bk = (await h.store.getByName(broke))!;
    assert.equal((await h.ctx.admission.tryStart(bk.id, bk.generation, 'provisioning started')).outcome, 'started');
    assert.ok(await h.store.transition(bk.id, 'failed', { set: { failure_code: 'PULL_FAILED', failure_message: 'manifest unknown' }, event: { type: 'failed', message: 'failed: pulling 127.0.0.1:5000/mayfly/shop:nope: manifest unknown', data: { code: 'PULL_FAILED' } } }));
    assert.equal((await h.api('PUT', `/api/v1/environments/${mine}`, { template: 'shop' })).status, 202);
    assert.equal((await h.api('PUT', `/api/v1/environments/${theirs}`, { template: 'shop' }, OTHER)).status, 202);
    await runReady(mine);
    await runReady(theirs);
    assert.equal((await h.api('PUT', `/api/v1/environments/${waits}`, { template: 'shop' })).status, 202);
    const w = (await h.store.getByName(waits))!;
    assert.equal((await h.ctx.admission.tryStart(w.id, w.generation, 'x')).outcome, 'waiting');

    const res = await v.get('/overview');
    assert.equal(res.status, 200);
    assert.match(res.html, /<a href="\/overview">Overview<\/a>/, 'linked in the nav');
    assert.match(textOf(res.html, 'limit-environments'), /^2 of 2/);
    assert.match(res.html, /<meter min="0" max="2" value="2" aria-label="Environments: 2 of 2">/);
    assert.match(textOf(res.html, 'limit-memory'), /MiB/);
    assert.match(res.html, /<tr data-owner="test"><th scope="row">test<\/th><td>default<\/td><td>1 of 1 <span class="soon">at the limit<\/span><\/td><td>\d+ MiB<\/td><td>1<\/td><td>0<\/td><\/tr>/);
    assert.match(res.html, /<tr data-owner="other"><th scope="row">other<\/th><td>default<\/td><td>1 of 1 [\s\S]*?<td>0<\/td><td>1<\/td><\/tr>/);
    assert.match(res.html, /<tr data-team="default"><th scope="row">default<\/th><td>2<\/td>/);
    const queued = new RegExp(`<tr data-queued="${waits}"><td>1</td>[\\s\\S]*?<td>in about [^<]+</td><td>test has 1 of at most 1 environments running</td></tr>`);
    assert.match(res.html, queued);
    assert.match(res.html, new RegExp(`<tr data-failed="${broke}">[\\s\\S]*?<code>PULL_FAILED</code></td><td class="reason">failed: pulling 127.0.0.1:5000/mayfly/shop:nope: manifest unknown</td>`));
    // Three charts, each an accessible SVG with a title, a description and a table.
    for (const id of ['chart-running', 'chart-ready', 'chart-failures']) {
      const fig = new RegExp(`<figure class="chart" id="${id}">([\\s\\S]*?)</figure>`).exec(res.html);
      assert.ok(fig, `${id} is drawn`);
      assert.match(fig[1]!, new RegExp(`<svg role="img" aria-labelledby="${id}-title ${id}-desc"`));
      assert.match(fig[1]!, new RegExp(`<title id="${id}-title">[^<]+</title>`));
      assert.match(fig[1]!, new RegExp(`<desc id="${id}-desc">[^<]+</desc>`));
      assert.equal([...fig[1]!.matchAll(/<rect class="bar"/g)].length, 24, '24 hours');
      assert.equal([...fig[1]!.matchAll(/<tr><th scope="row">\d\d:00<\/th>/g)].length, 24, 'the table alternative has every hour');
    }
    const running = /<figure class="chart" id="chart-running">[\s\S]*?<\/figure>/.exec(res.html)![0];
    assert.match(running, /<desc id="chart-running-desc">Environments ready at the end of each hour over the last 24 hours; now 2,/);
    const failures = /<figure class="chart" id="chart-failures">[\s\S]*?<\/figure>/.exec(res.html)![0];
    assert.match(failures, /; 1 in all\./);
    assert.match(/<figure class="chart" id="chart-ready">[\s\S]*?<\/figure>/.exec(res.html)![0], /2 became ready/);
    assert.doesNotMatch(res.html, /<script(?! src="\/static\/live\.js")/, 'no inline script: the charts need none');
  });

  it('when "mine only" is chosen, then the list remembers it; the list puts failed first, then expiring soon, then the rest', async () => {
    await h.pool.query(`UPDATE environments SET status = 'destroyed', holds_capacity = false, destroyed_at = now() WHERE status <> 'destroyed'`);
    const fresh = uniqueName('fresh');
    const soon = uniqueName('soon');
    const failed = uniqueName('failed');
    const theirs = uniqueName('theirs');
    assert.equal((await h.api('PUT', `/api/v1/environments/${failed}`, { template: 'shop', ttl: '4h' })).status, 202);
    assert.equal((await h.api('PUT', `/api/v1/environments/${soon}`, { template: 'shop', ttl: '30m' })).status, 202);
    assert.equal((await h.api('PUT', `/api/v1/environments/${fresh}`, { template: 'shop', ttl: '4h' })).status, 202);
    assert.equal((await h.api('PUT', `/api/v1/environments/${theirs}`, { template: 'shop', ttl: '4h' }, OTHER)).status, 202);
    const f = (await h.store.getByName(failed))!;
    await h.ctx.admission.tryStart(f.id, f.generation, 'x');
    assert.ok(await h.store.transition(f.id, 'failed', { set: { failure_code: 'UNHEALTHY', failure_message: 'web never became healthy' }, event: { type: 'failed', message: 'failed: web never became healthy', data: { code: 'UNHEALTHY' } } }));

    const order = (html: string) => [...html.matchAll(/<tr data-env="([^"]+)"/g)].map((m) => m[1]);
    const list = await v.get('/');
    assert.deepEqual(order(list.html), [failed, soon, fresh, theirs], 'failed, expiring soon, then the rest with mine first (the store gives newest first)');
    assert.match(list.html, new RegExp(`<tr data-env="${failed}" data-attention="failed"`));
    assert.match(list.html, /<span class="soon">expires soon<\/span>/);
    assert.match(list.html, /<span class="sr-only">Status: <\/span>failed/, 'the status badge has a name for screen readers');

    const chosen = await v.get('/?filtered=1&mine=1');
    const cookie = chosen.headers.getSetCookie().find((c) => c.startsWith('mayfly_list='));
    assert.match(cookie ?? '', /^mayfly_list=mine; Path=\/; HttpOnly; SameSite=Lax; Max-Age=31536000$/);
    const remember = `${v.cookie}; ${cookie!.split(';')[0]}`;
    const later = await fetch(`${h.baseUrl}/`, { headers: { cookie: remember, accept: 'text/html' } }).then((r) => r.text());
    assert.deepEqual(order(later), [failed, soon, fresh], 'only mine, without asking again');
    assert.match(later, /<input type="checkbox" name="mine" value="1" checked>/);
    const cleared = await fetch(`${h.baseUrl}/?filtered=1`, { headers: { cookie: remember, accept: 'text/html' } });
    assert.match(cleared.headers.getSetCookie().find((c) => c.startsWith('mayfly_list=')) ?? '', /^mayfly_list=all;/);
    assert.ok(order(await cleared.text()).includes(theirs), 'unchecked and sent: everyone again');
  });
});
