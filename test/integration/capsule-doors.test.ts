/**
 * Bug capsules through every door QA and developers use (issue 17, item 5), on the real service
 * (Docker, PostgreSQL, Redis, the registry; the worker takes each capsule): the CLI run as a child
 * process, Slack's signed slash command, the environment page's forms, and a comment on a pull
 * request. One environment serves every door, so that the file starts few: the one the GitHub door
 * makes for pull request 2 of qa/shop (tag pr-2, team qa, as its author octocat is). Each door takes
 * its own capsule of it; the CLI and the page each bring one up as a new environment and look for
 * the data written before the capsule (and not what was written after). Another team's person is
 * refused at each door, and nothing is recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { settledReady, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { GITHUB_SECRET, githubHook, prComment, pullRequest, SLACK_SECRET, slackCommand } from '../helpers/doors.js';
import { startGitHubStandIn, type GitHubStandIn } from '../helpers/github-api.js';
import { takenCapsule } from '../helpers/data-fixtures.js';
import { psql } from '../helpers/seed-checks.js';
import { mayfly } from '../helpers/cli.js';
import { flash, signIn, visitor, withFlash, type Browserless } from '../helpers/web.js';
import { notify } from '../../worker/jobs/notify.js';

const ALICE = 'alice-secret-0123456789'; // team qa, as slack:UQA1, github:alice and github:octocat are
const BOB = 'bob-secret-0123456789'; // team platform, as slack:UPL1 and github:bob are
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });
const REPO = 'qa/shop';
const PR = 2;
const NAME = `shop-pr-${PR}`;
const CAPSULE_ID = /cap-[0-9a-f]{8}/;

/** The names of the files in a capsule's archive (a .tar.gz), and one file's bytes. */
const archiveFiles = (archive: Buffer) => execFileSync('tar', ['-tz'], { input: archive, encoding: 'utf8' }).trim().split('\n').sort();
const archiveFile = (archive: Buffer, file: string) => execFileSync('tar', ['-xzO', file], { input: archive });

describe('bug capsules through each door: CLI, Slack, the environment page, a pull request comment', () => {
  let h: Harness;
  let gh: GitHubStandIn;
  let envId: string;
  let cli: Record<string, string>;
  let alice: Browserless;
  let bob: Browserless;
  let cliCapsule = '';
  let webCapsule = '';

  before(async () => {
    gh = await startGitHubStandIn();
    h = await startHarness({
      env: {
        MAYFLY_API_TOKENS: `alice:${ALICE},bob:${BOB}`,
        MAYFLY_TEAMS: 'qa=alice,slack:UQA1,github:octocat,github:alice;platform=bob,slack:UPL1,github:bob',
        SLACK_SIGNING_SECRET: SLACK_SECRET,
        GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, MAYFLY_GITHUB_TEMPLATE: 'shop', MAYFLY_GITHUB_API_URL: gh.url, MAYFLY_GITHUB_TOKEN: 'gh-token-for-tests',
        // The notifier is driven by the test (it answers pull request comments).
        MAYFLY_NOTIFY_INTERVAL: '1h', MAYFLY_GITHUB_COMMENT_DEBOUNCE: '1s',
        // The machine may be shared and busy: a slow start is not what this file tests.
        MAYFLY_HEALTH_TIMEOUT: '10m',
      },
    });
    cli = { MAYFLY_URL: h.baseUrl, MAYFLY_TOKEN: ALICE };
    const opened = await githubHook(h.baseUrl, 'pull_request', pullRequest('opened', PR, randomBytes(20).toString('hex'), { repo: REPO }));
    assert.equal(opened.body.outcome, 'created', JSON.stringify(opened.body));
    const env = await settledReady(h, NAME, await h.api('GET', `/api/v1/environments/${NAME}?wait=240`, undefined, as(ALICE)), as(ALICE));
    assert.equal(env.team, 'qa', 'the pull request\'s environment is in its author\'s team');
    envId = env.id;
    await psql(h, envId, `INSERT INTO products (name, price_cents) VALUES ('doors-test kept', 4711)`);
    [alice, bob] = await Promise.all([signIn(h.baseUrl, ALICE), signIn(h.baseUrl, BOB)]);
  });

  after(async () => {
    // Capsule volumes carry the harness's instance label: close() removes them with the rest.
    await h?.close();
    await gh?.close();
  });

  const capsuleCount = async () => Number((await h.pool.query('SELECT count(*) AS n FROM capsules')).rows[0].n);
  /** The test's rows in an environment's database, in the order written. */
  const testRows = (id: string) => psql(h, id, `SELECT coalesce(string_agg(name, ',' ORDER BY id), '') FROM products WHERE name LIKE 'doors-test %'`);

  it('when QA runs mayfly capsule, then mayfly capsules lists it, its archive link downloads it, and mayfly deploy --capsule --wait brings up a new environment with the data written before it', async () => {
    const took = await mayfly(['capsule', NAME, '--name', 'cli-bug', '--note', 'pay fails after coupon'], cli);
    assert.equal(took.code, 0, took.stderr);
    cliCapsule = took.stdout.trim();
    assert.match(cliCapsule, new RegExp(`^${CAPSULE_ID.source}$`));
    const archiveLink = `${h.baseUrl}/api/v1/capsules/${cliCapsule}/archive`;
    assert.ok(took.stderr.includes(`  archive: ${archiveLink}\n`), took.stderr);
    assert.ok(took.stderr.includes(`bring it up: mayfly deploy <new-name> --capsule ${cliCapsule}`), took.stderr);

    const c = await takenCapsule(h, cliCapsule, as(ALICE));
    assert.deepEqual({ name: c.name, note: c.note, environment: c.environment, team: c.team, createdBy: c.createdBy },
      { name: 'cli-bug', note: 'pay fails after coupon', environment: NAME, team: 'qa', createdBy: 'alice' });
    const listed = await mayfly(['capsules', NAME], cli);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ID +NAME +STATUS +SIZE +BY +CREATED +NOTE\n/);
    assert.match(listed.stdout, new RegExp(`^${cliCapsule} +cli-bug +ready +\\d.* +alice +\\S+ +pay fails after coupon$`, 'm'));

    // The CLI prints the archive's address; a token fetches it (curl -H "Authorization: Bearer ...").
    const res = await fetch(archiveLink, { headers: as(ALICE) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/gzip');
    const archive = Buffer.from(await res.arrayBuffer());
    assert.ok(archiveFiles(archive).includes('database.sql.gz'), `the archive holds the dump: ${archiveFiles(archive)}`);
    assert.match(gunzipSync(archiveFile(archive, 'database.sql.gz')).toString('utf8'), /doors-test kept/);

    // Written after the capsule: the new environment must not have it.
    await psql(h, envId, `INSERT INTO products (name, price_cents) VALUES ('doors-test later', 1)`);
    const restoredName = uniqueName('bug-cli');
    const up = await mayfly(['deploy', restoredName, '--capsule', cliCapsule, '--ttl', '1h', '--wait', '--timeout', '9m'], cli, 600_000);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout.trim(), `http://${restoredName}.localhost:${h.routerPort}`, 'only the URL, as up --wait prints it');
    const restored = (await h.store.getByName(restoredName))!;
    assert.deepEqual({ status: restored.status, door: restored.door, owner: restored.owner, team: restored.team, template: restored.template },
      { status: 'ready', door: 'cli', owner: 'alice', team: 'qa', template: 'shop' });
    assert.equal(await testRows(restored.id), 'doors-test kept', 'the capsule\'s data, and nothing written after it');
    // Done with it: its teardown need not hold up the next door.
    assert.equal((await h.api('DELETE', `/api/v1/environments/${restoredName}`, undefined, as(ALICE))).status, 202);
  });

  it('when mayfly deploy names an unknown, malformed or another team\'s capsule, or mayfly capsule an unknown environment, then it exits non-zero naming the problem and nothing is created', async () => {
    const before = await capsuleCount();
    const other = uniqueName('bug-none');
    const unknown = await mayfly(['deploy', other, '--capsule', 'cap-00000000', '--wait'], cli);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /^mayfly: CAPSULE_NOT_FOUND: no bug capsule "cap-00000000" \(deleted, or never taken\)/);
    assert.match(unknown.stderr, /\n  capsule: no bug capsule "cap-00000000"/, 'the field is named');
    assert.equal(unknown.stdout, '');

    const malformed = await mayfly(['deploy', other, '--capsule', 'yesterday'], cli);
    assert.equal(malformed.code, 2, `the API calls it invalid (400): ${malformed.stderr}`);
    assert.match(malformed.stderr, /\n  capsule: must be a bug capsule id such as "cap-1a2b3c4d"/);

    const bobs = await mayfly(['deploy', other, '--capsule', cliCapsule], { ...cli, MAYFLY_TOKEN: BOB });
    assert.equal(bobs.code, 1, bobs.stderr);
    assert.match(bobs.stderr, new RegExp(`FORBIDDEN: bug capsule "${cliCapsule}" \\(cli-bug, of environment "${NAME}"\\) belongs to team "qa"; bob \\(team "platform"\\) may not restore it`));

    const noEnv = await mayfly(['capsule', 'no-such-env'], cli);
    assert.equal(noEnv.code, 1, noEnv.stderr);
    assert.match(noEnv.stderr, /ENVIRONMENT_NOT_FOUND: no environment named "no-such-env"/);

    assert.equal((await h.api('GET', `/api/v1/environments/${other}`, undefined, as(ALICE))).status, 404, 'no environment was created');
    assert.equal(await capsuleCount(), before, 'no capsule was recorded');
  });

  it('when QA types /mayfly capsule <env> what went wrong in Slack, then the answer gives the capsule id and a link to its archive that a signed-in person downloads', async () => {
    const res = await slackCommand(h.baseUrl, { text: `capsule ${NAME} what went wrong`, user_id: 'UQA1', user_name: 'uqa1' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.response_type, 'ephemeral');
    const m = new RegExp(`^Taking bug capsule \`(${CAPSULE_ID.source})\` of \\*${NAME}\\* \\(its data, image digests, logs and last \\d+ requests\\)\\. ` +
      `Archive: (\\S+) — a developer brings it up with \`mayfly deploy <new-name> --capsule \\1\`\\.$`).exec(String(res.body.text));
    assert.ok(m, `the answer names the capsule and its archive: ${res.body.text}`);
    const [, id, link] = m as unknown as [string, string, string];
    const c = await takenCapsule(h, id, as(ALICE));
    assert.deepEqual({ note: c.note, environment: c.environment, team: c.team, createdBy: c.createdBy },
      { note: 'what went wrong', environment: NAME, team: 'qa', createdBy: 'slack:UQA1' });

    // The link is opened in a browser from the chat: sign in first, then the file.
    assert.ok(link.startsWith(`${h.baseUrl}/`), link);
    const path = link.slice(h.baseUrl.length);
    const anonymous = await visitor(h.baseUrl).get(path);
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.get('location'), `/sign-in?next=${encodeURIComponent(path)}`);
    const download = await fetch(link, { headers: { cookie: alice.cookie } });
    assert.equal(download.status, 200, 'a signed-in person of the team downloads it');
    assert.equal(download.headers.get('content-type'), 'application/gzip');
    assert.ok(archiveFiles(Buffer.from(await download.arrayBuffer())).includes('manifest.json'));
  });

  it('when a Slack user of another team asks for a capsule, then it is refused naming the team and no capsule is recorded', async () => {
    const before = await capsuleCount();
    const res = await slackCommand(h.baseUrl, { text: `capsule ${NAME} not mine`, user_id: 'UPL1', user_name: 'upl1' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.text, `environment "${NAME}" belongs to team "qa"; slack:UPL1 (team "platform") may not change it`);
    assert.equal(await capsuleCount(), before);
    const denied = await h.pool.query(`SELECT action FROM audit_log WHERE actor = 'slack:UPL1' AND outcome = 'denied'`);
    assert.deepEqual(denied.rows.map((r) => r.action), ['capsule.take']);
  });

  it('when QA presses the page\'s capsule button, then one is recorded, shows on the page once ready, and its restore form brings it up as a new environment with that data', async () => {
    const page = await alice.get(`/environments/${NAME}`);
    assert.equal(page.status, 200);
    const section = /<section id="capsules-section"[\s\S]*?<\/section>/.exec(page.html)?.[0] ?? '';
    assert.match(section, new RegExp(`<form method="post" action="/environments/${NAME}/capsule"[^>]*>\\s*<input type="hidden" name="_csrf" value="[^"]+">[\\s\\S]*?<button type="submit">Take a bug capsule</button>`));
    const before = await testRows(envId);

    const taken = await alice.post(`/environments/${NAME}/capsule`, { _csrf: await alice.csrf(`/environments/${NAME}`), name: 'web-bug', note: 'the total is wrong' });
    assert.equal(taken.status, 303);
    assert.equal(taken.headers.get('location'), `/environments/${NAME}`);
    const said = flash((await alice.get(`/environments/${NAME}`, { cookie: withFlash(alice.cookie, taken.headers) })).html);
    const m = new RegExp(`^ok: Taking bug capsule (${CAPSULE_ID.source}) of ${NAME} \\(its data, image digests, logs and last \\d+ requests\\)\\.$`).exec(said);
    assert.ok(m, `the page says which capsule: ${said}`);
    webCapsule = m[1]!;
    const c = await takenCapsule(h, webCapsule, as(ALICE));
    assert.deepEqual({ name: c.name, note: c.note, createdBy: c.createdBy }, { name: 'web-bug', note: 'the total is wrong', createdBy: 'alice' });
    await psql(h, envId, `INSERT INTO products (name, price_cents) VALUES ('doors-test after-web', 2)`);

    // Ready: the page shows it with its download link and the form that brings it up.
    const shown = await alice.get(`/environments/${NAME}`);
    const row = new RegExp(`<tr><td data-label="Capsule"><code>${webCapsule}</code></td>[\\s\\S]*?</tr>`).exec(shown.html)?.[0] ?? '';
    assert.match(row, /<td data-label="Name">web-bug<\/td><td data-label="Status">ready<\/td>/);
    assert.match(row, /<td data-label="By">alice<\/td>[\s\S]*<td data-label="Note">the total is wrong<\/td>/);
    assert.match(row, new RegExp(`<a href="/capsules/${webCapsule}/archive">Download</a>`));
    const form = new RegExp(`<form method="post" action="/capsules/${webCapsule}/restore"[^>]*>([\\s\\S]*?)</form>`).exec(row)?.[1] ?? '';
    assert.match(form, new RegExp(`<input type="hidden" name="from" value="${NAME}">`));
    assert.match(form, /<input id="as-[^"]+" name="as"/);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form)?.[1];
    assert.ok(csrf, 'the restore form carries the CSRF token');

    const restoredName = uniqueName('bug-web');
    const restore = await alice.post(`/capsules/${webCapsule}/restore`, { _csrf: csrf, from: NAME, as: restoredName });
    assert.equal(restore.status, 303);
    assert.equal(restore.headers.get('location'), `/environments/${restoredName}`);
    const newPage = await alice.get(`/environments/${restoredName}`, { cookie: withFlash(alice.cookie, restore.headers) });
    assert.equal(flash(newPage.html), `ok: Bringing bug capsule ${webCapsule} up as ${restoredName}.`);
    const restored = await settledReady(h, restoredName, await h.api('GET', `/api/v1/environments/${restoredName}?wait=240`, undefined, as(ALICE)), as(ALICE));
    assert.deepEqual({ door: restored.door, owner: restored.owner, team: restored.team }, { door: 'web', owner: 'alice', team: 'qa' });
    assert.equal(await testRows(restored.id), before, 'the data as it was when the capsule was taken');
    assert.equal((await h.api('DELETE', `/api/v1/environments/${restoredName}`, undefined, as(ALICE))).status, 202);
  });

  it('when a person of another team opens the page, then there are no capsule buttons, and their capsule and restore POSTs are refused and change nothing', async () => {
    const page = await bob.get(`/environments/${NAME}`);
    assert.equal(page.status, 200, 'anyone signed in may look at the environment');
    assert.doesNotMatch(page.html, /id="capsules-section"/, 'another team does not see the capsules (they hold the data and logs)');
    assert.doesNotMatch(page.html, /action="[^"]*\/capsule"/, 'no capsule button');
    assert.doesNotMatch(page.html, /action="\/capsules\//, 'no restore form');
    const before = await capsuleCount();
    const other = uniqueName('bug-bob');

    const take = await bob.post(`/environments/${NAME}/capsule`, { _csrf: await bob.csrf(`/environments/${NAME}`), note: 'not mine' });
    assert.equal(take.status, 303);
    assert.equal(flash((await bob.get(`/environments/${NAME}`, { cookie: withFlash(bob.cookie, take.headers) })).html),
      `error: environment "${NAME}" belongs to team "qa"; bob (team "platform") may not change it`);
    const restore = await bob.post(`/capsules/${webCapsule}/restore`, { _csrf: await bob.csrf(`/environments/${NAME}`), from: NAME, as: other });
    assert.equal(restore.status, 303);
    assert.equal(restore.headers.get('location'), `/environments/${NAME}`, 'back to the page it came from');
    assert.equal(flash((await bob.get(`/environments/${NAME}`, { cookie: withFlash(bob.cookie, restore.headers) })).html),
      `error: bug capsule "${webCapsule}" (web-bug, of environment "${NAME}") belongs to team "qa"; bob (team "platform") may not restore it`);
    assert.equal((await bob.get(`/capsules/${webCapsule}/archive`)).status, 403, 'nor download it');

    assert.equal(await capsuleCount(), before, 'no capsule was recorded');
    assert.equal(await h.store.getByName(other), undefined, 'no environment was created');
    const denied = await h.pool.query(`SELECT action FROM audit_log WHERE actor = 'bob' AND outcome = 'denied' AND action LIKE 'capsule.%' ORDER BY id`);
    assert.deepEqual(denied.rows.map((r) => r.action), ['capsule.restore', 'capsule.take', 'capsule.restore', 'capsule.view']);
  });

  it('when a team member comments /mayfly capsule pay fails on the pull request, then the capsule is recorded for its environment and the answer names it', async () => {
    const before = await capsuleCount();
    const refused = await githubHook(h.baseUrl, 'issue_comment', prComment(PR, '/mayfly capsule not mine', 'bob', { repo: REPO, commentId: 9401 }));
    assert.equal(refused.body.outcome, 'refused', JSON.stringify(refused.body));
    assert.match(refused.body.message, /github:bob \(team "platform"\) may not change it/);
    assert.equal(await capsuleCount(), before, 'nothing recorded for another team');

    const res = await githubHook(h.baseUrl, 'issue_comment', prComment(PR, '/mayfly capsule pay fails', 'alice', { repo: REPO, commentId: 9400 }));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.outcome, 'done');
    const id = new RegExp(`^bug capsule (${CAPSULE_ID.source}) taken \\(archive: `).exec(res.body.message)?.[1];
    assert.ok(id, res.body.message);
    assert.equal(res.body.message, `bug capsule ${id} taken (archive: ${h.baseUrl}/capsules/${id}/archive; bring it up with mayfly deploy <new-name> --capsule ${id})`);
    const c = await takenCapsule(h, id, as(ALICE));
    assert.deepEqual({ note: c.note, environment: c.environment, team: c.team, createdBy: c.createdBy },
      { note: 'pay fails', environment: NAME, team: 'qa', createdBy: 'github:alice' });

    // The answer: +1 on the command, and the pull request's live comment shows the command and its capsule.
    const live = () => gh.comments.get(`${REPO}#${PR}`)?.find((x) => x.body.startsWith(`<!-- mayfly:env=${NAME} -->`));
    await waitUntil('the notifier to answer the comment and show the capsule in the live comment', 60_000, async () => {
      await notify(h.ctx, h.ctx.notifications);
      const open = Number((await h.pool.query('SELECT count(*) FROM github_replies WHERE done_at IS NULL')).rows[0].count);
      return open === 0 && live()?.body.includes(`bug capsule ${id} taken`);
    });
    assert.ok(gh.calls.some((x) => x.path === `/repos/${REPO}/issues/comments/9400/reactions` && x.json.content === '+1'), 'the command got +1');
    assert.match(live()!.body, new RegExp(`Last command: \`/mayfly capsule pay fails\` by github:alice: bug capsule ${id} taken \\(archive: ${h.baseUrl}/capsules/${id}/archive;`));
    const refusal = gh.calls.find((x) => x.method === 'POST' && x.path === `/repos/${REPO}/issues/${PR}/comments` && x.json.body.startsWith('@bob '));
    assert.match(refusal?.json.body ?? '', /may not change it/, 'bob is told why');
  });
});
