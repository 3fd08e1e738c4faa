/**
 * The environment page's data section over HTTP (issue 17, item 5), on a real PostgreSQL and
 * Redis: its checkpoints and forks with their buttons (take a checkpoint, rewind to one, fork for
 * someone) for its team, none of them for a signed-in person of another team, whose POSTs (CSRF
 * and all) are refused and change nothing; a POST without the CSRF token is refused; a rewind to
 * an unknown checkpoint says which field is wrong. No worker runs: environments are moved on by
 * the store and admission as the worker would, and checkpoints marked ready as it would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { flash, signIn, withFlash, type Browserless } from '../helpers/web.js';
import { CheckpointStore } from '../../core/store/checkpoints.js';
import { readyCheckpoint as readyCheckpointOf, readyEnvironment as readyEnvironmentOf } from '../helpers/data-fixtures.js';

const ALICE = 'alice-secret-0123456789'; // team qa
const CAROL = 'carol-secret-0123456789'; // team qa
const BOB = 'bob-secret-0123456789'; // team platform
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });

/** The page's "Checkpoints and forks" section. */
function dataSection(html: string): string {
  const m = /<section id="data"[\s\S]*?<\/section>/.exec(html);
  assert.ok(m, 'the page has its data section');
  return m[0];
}

describe('the environment page: checkpoints, rewind and forks (HTTP level)', () => {
  let h: Harness;
  let alice: Browserless;
  let carol: Browserless;
  let bob: Browserless;
  let checkpoints: CheckpointStore;
  before(async () => {
    h = await startHarness({
      worker: false,
      env: {
        MAYFLY_API_TOKENS: `alice:${ALICE},carol:${CAROL},bob:${BOB}`,
        MAYFLY_TEAMS: 'qa=alice,carol;platform=bob',
      },
    });
    checkpoints = new CheckpointStore(h.pool);
    [alice, carol, bob] = await Promise.all([signIn(h.baseUrl, ALICE), signIn(h.baseUrl, CAROL), signIn(h.baseUrl, BOB)]);
  });
  after(async () => { await h?.close(); });

  const readyEnvironment = (prefix: string) => readyEnvironmentOf(h, ALICE, prefix);
  const readyCheckpoint = (name: string) => readyCheckpointOf(h, checkpoints, name);

  /** What a change would touch: the environment's row and its checkpoints and forks. */
  async function state(name: string): Promise<string> {
    const env = (await h.store.getByName(name))!;
    const cps = (await checkpoints.list(env.id)).map((c) => `${c.id}:${c.status}`);
    const forks = (await h.store.liveForks(env.id)).map((f) => f.name);
    return JSON.stringify({ status: env.status, generation: env.generation, cps, forks });
  }

  it('when its team opens the page, then its checkpoints show with a rewind button for a ready one, and the checkpoint and fork buttons show', async () => {
    const name = await readyEnvironment('dp-team');
    const cp = await readyCheckpoint(name);
    const env = (await h.store.getByName(name))!;
    const pending = await checkpoints.add(env, env.generation, 'before-redeploy', 'carol');
    for (const v of [alice, carol]) {
      const page = await v.get(`/environments/${name}`);
      assert.equal(page.status, 200);
      const data = dataSection(page.html);
      assert.match(data, new RegExp(`<form method="post" action="/environments/${name}/checkpoint"[^>]*>\\s*<input type="hidden" name="_csrf" value="[^"]+">\\s*<button type="submit">Take a checkpoint</button>`));
      assert.match(data, new RegExp(`<form method="post" action="/environments/${name}/fork"[\\s\\S]*?<input id="fork-for" name="for"[\\s\\S]*?<button type="submit">Fork</button>`));
      const table = /<table id="checkpoints">[\s\S]*?<\/table>/.exec(data)?.[0] ?? '';
      const row = (id: string) => new RegExp(`<tr><td data-label="Checkpoint"><code>${id}</code></td>[\\s\\S]*?</tr>`).exec(table)?.[0] ?? '';
      assert.match(row(cp), /<td data-label="Why">manual<\/td><td data-label="Status">ready<\/td><td data-label="Pause">120 ms<\/td><td data-label="By">alice<\/td>/);
      assert.match(row(cp), new RegExp(`<form method="post" action="/environments/${name}/rewind"[^>]*>\\s*<input type="hidden" name="_csrf" value="[^"]+">\\s*<input type="hidden" name="checkpoint" value="${cp}"><button type="submit">Rewind</button>`));
      assert.match(row(pending.id), /<td data-label="Why">before-redeploy<\/td><td data-label="Status">pending<\/td>/);
      assert.doesNotMatch(row(pending.id), /rewind/, 'a checkpoint not taken yet cannot be brought back');
    }
  });

  it('when its team uses the buttons, then a checkpoint is recorded, the environment rewinds and a fork shows under it', async () => {
    const name = await readyEnvironment('dp-use');
    const cp = await readyCheckpoint(name);

    const taken = await alice.post(`/environments/${name}/checkpoint`, { _csrf: await alice.csrf(`/environments/${name}`) });
    assert.equal(taken.status, 303);
    assert.equal(taken.headers.get('location'), `/environments/${name}`);
    const env = (await h.store.getByName(name))!;
    const manual = (await checkpoints.list(env.id)).filter((c) => c.id !== cp);
    assert.equal(manual.length, 1, 'one more checkpoint');
    assert.equal(manual[0]!.reason, 'manual');
    assert.equal(manual[0]!.createdBy, 'alice');
    const afterTake = await alice.get(`/environments/${name}`, { cookie: withFlash(alice.cookie, taken.headers) });
    assert.equal(flash(afterTake.html), `ok: Taking checkpoint ${manual[0]!.id} of ${name}: its database pauses for a moment.`);
    assert.match(dataSection(afterTake.html), new RegExp(`<code>${manual[0]!.id}</code></td><td data-label="Why">manual</td><td data-label="Status">pending</td>`));

    const forked = await carol.post(`/environments/${name}/fork`, { _csrf: await carol.csrf(`/environments/${name}`), for: 'dora' });
    assert.equal(forked.status, 303);
    const fork = await h.store.getByName(`${name}--dora`);
    assert.ok(fork, 'the fork was created');
    assert.equal(fork.parentId, env.id);
    assert.equal(fork.door, 'web');
    assert.equal(fork.owner, 'carol');
    const withFork = await carol.get(`/environments/${name}`, { cookie: withFlash(carol.cookie, forked.headers) });
    assert.equal(flash(withFork.html), `ok: Forking ${name} as ${name}--dora.`);
    assert.match(dataSection(withFork.html), new RegExp(`<ul id="forks"><li><a href="/environments/${name}--dora">${name}--dora</a> \\(queued, carol\\)</li></ul>`));
    const forkPage = await carol.get(`/environments/${name}--dora`);
    assert.match(forkPage.html, new RegExp(`<p id="fork-of">A fork of <a href="/environments/${name}">${name}</a> \\(depth 1\\)`));

    const rewound = await alice.post(`/environments/${name}/rewind`, { _csrf: await alice.csrf(`/environments/${name}`), checkpoint: cp });
    assert.equal(rewound.status, 303);
    const moved = (await h.store.getByName(name))!;
    assert.equal(moved.status, 'queued', 'a rewind is a new generation, queued');
    assert.equal(moved.generation, env.generation + 1);
    const events = await h.store.events(moved.id);
    assert.ok(events.some((e) => e.type === 'rewind' && e.message.includes(cp) && e.message.includes('alice')), 'the timeline says who rewound to what');
    assert.ok((await checkpoints.list(env.id)).some((c) => c.reason === 'before-rewind'), 'the data it replaces is checkpointed first');
    const afterRewind = await alice.get(`/environments/${name}`, { cookie: withFlash(alice.cookie, rewound.headers) });
    assert.equal(flash(afterRewind.html), `ok: Rewinding ${name} to checkpoint ${cp} (its current data is checkpointed first).`);
  });

  it('when a person of another team opens the page, then they see the checkpoints and forks but no button to change them', async () => {
    const name = await readyEnvironment('dp-other');
    const cp = await readyCheckpoint(name);
    const page = await bob.get(`/environments/${name}`);
    assert.equal(page.status, 200, 'anyone signed in may look');
    const data = dataSection(page.html);
    assert.match(data, new RegExp(`<code>${cp}</code>`), 'the checkpoints show');
    assert.doesNotMatch(data, /action="[^"]*\/checkpoint"/, 'no checkpoint button');
    assert.doesNotMatch(data, /action="[^"]*\/rewind"/, 'no rewind button');
    assert.doesNotMatch(data, /action="[^"]*\/fork"/, 'no fork button');
    const actions = /<section id="actions"[\s\S]*?<\/section>/.exec(page.html)?.[0] ?? '';
    for (const verb of ['extend', 'reset-data', 'share', 'destroy']) {
      assert.doesNotMatch(actions, new RegExp(`action="/environments/${name}/${verb}"`), `no ${verb} button for another team`);
    }
    assert.match(actions, /It belongs to team qa: its team or an admin may change it\./, 'says why there is nothing to press');
    // Its team sees the same actions (the page hides by right, not by state).
    const own = /<section id="actions"[\s\S]*?<\/section>/.exec((await alice.get(`/environments/${name}`)).html)?.[0] ?? '';
    for (const verb of ['extend', 'destroy']) assert.match(own, new RegExp(`action="/environments/${name}/${verb}"`), `${verb} for its team`);
  });

  it('when a person of another team POSTs the forms anyway (with their CSRF token), then each is refused naming the team, and nothing changes', async () => {
    const name = await readyEnvironment('dp-refused');
    const cp = await readyCheckpoint(name);
    const before = await state(name);
    for (const [verb, fields] of [['checkpoint', {}], ['rewind', { checkpoint: cp }], ['fork', { for: 'bob' }]] as const) {
      const res = await bob.post(`/environments/${name}/${verb}`, { _csrf: await bob.csrf(`/environments/${name}`), ...fields });
      // Web forms answer a refusal with a redirect and the reason (Post/Redirect/Get), as the datasets page does.
      assert.equal(res.status, 303, verb);
      const shown = await bob.get(`/environments/${name}`, { cookie: withFlash(bob.cookie, res.headers) });
      assert.match(flash(shown.html), new RegExp(`^error: environment "${name}" belongs to team "qa"`), verb);
      assert.equal(await state(name), before, `${verb} changed nothing`);
    }
    assert.equal(await h.store.getByName(`${name}--bob`), undefined, 'no fork was made');
    const audit = await h.pool.query(`SELECT action, outcome FROM audit_log WHERE actor = 'bob' AND environment = $1 ORDER BY id`, [name]);
    assert.deepEqual(audit.rows.map((r) => `${r.action} ${r.outcome}`), ['environment.checkpoint denied', 'environment.rewind denied', 'environment.fork denied']);
  });

  it('when a form is POSTed without the CSRF token or with a wrong one, then it is refused with 403 and nothing changes', async () => {
    const name = await readyEnvironment('dp-csrf');
    const cp = await readyCheckpoint(name);
    const before = await state(name);
    for (const [verb, fields] of [['checkpoint', {}], ['rewind', { checkpoint: cp }], ['fork', { for: 'eve' }]] as const) {
      for (const csrf of [undefined, 'not-the-token']) {
        const res = await alice.post(`/environments/${name}/${verb}`, { ...(csrf ? { _csrf: csrf } : {}), ...fields });
        assert.equal(res.status, 403, `${verb} with ${csrf ?? 'no token'}`);
        assert.match(res.html, /This form was refused/);
      }
    }
    assert.equal(await state(name), before);
    assert.equal(await h.store.getByName(`${name}--eve`), undefined);
  });

  it('when a rewind names an unknown, malformed or not-ready checkpoint, then the page says what is wrong with the field checkpoint, and nothing changes', async () => {
    const name = await readyEnvironment('dp-unknown');
    const env = (await h.store.getByName(name))!;
    const pending = await checkpoints.add(env, env.generation, 'manual', 'alice');
    const before = await state(name);
    for (const [checkpoint, said] of [
      ['cp-00000000', `checkpoint environment "${name}" has no checkpoint "cp-00000000"; GET /api/v1/environments/${name}/checkpoints lists its checkpoints`],
      ['yesterday', 'checkpoint is required: a checkpoint id such as "cp-1a2b3c4d" (GET .../checkpoints lists them)'],
      [pending.id, `checkpoint checkpoint "${pending.id}" is pending; only a ready checkpoint can be brought back`],
    ]) {
      const res = await alice.post(`/environments/${name}/rewind`, { _csrf: await alice.csrf(`/environments/${name}`), checkpoint: checkpoint! });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `/environments/${name}`);
      const shown = await alice.get(`/environments/${name}`, { cookie: withFlash(alice.cookie, res.headers) });
      assert.equal(flash(shown.html), `error: ${said}`);
      assert.equal(await state(name), before, `${checkpoint}: nothing changed`);
    }
  });
});
