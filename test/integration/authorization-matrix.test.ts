/**
 * The authorization matrix, generated from the app's own route table: every route declares a rule
 * (api/access.ts), and each is tried against {owner, same team, other team, admin, anonymous,
 * wrong token} with the answer its rule implies. A new route without a rule fails the first test.
 * For actions on an environment the decision is the application layer's, so the expected answer
 * is also read back from the audit trail (allowed or denied), whatever the door: REST, the web
 * pages, Slack.
 */
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RULES, type Action } from '../../core/app/authorization.js';
import { ruleOf, type RouteRule } from '../../api/access.js';
import { principalFor } from '../../core/domain/principal.js';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';
import { signIn, visitor, type Browserless } from '../helpers/web.js';
import { GITHUB_SECRET, GITLAB_TOKEN, SLACK_SECRET, githubHook, gitlabHook, mergeRequest, slackClick, slackCommand, slackInteraction } from '../helpers/doors.js';

type Who = 'owner' | 'mate' | 'other' | 'admin' | 'anonymous' | 'wrong-token';
const WHO: Who[] = ['owner', 'mate', 'other', 'admin', 'anonymous', 'wrong-token'];
const SECRETS: Record<string, string> = {
  owner: 'owner-secret-0123456789', mate: 'mate-secret-0123456789', other: 'other-secret-0123456789', admin: 'root-secret-0123456789',
  'wrong-token': 'not-a-token-0123456789',
};
const NAMES: Record<string, string> = { owner: 'owner', mate: 'mate', other: 'other', admin: 'root' };
const METRICS_TOKEN = 'metrics-token-0123456789';

interface Layer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean>; stack: { handle: unknown }[] };
  handle: { stack?: Layer[] } & object;
}

interface RouteRow { method: string; path: string; rule: RouteRule | undefined }

/** Every method + path the app serves, with the rule its handlers declare (a mounted app's, for a sub-app). */
function routeTable(stack: Layer[], prefix = '', inherited?: RouteRule): RouteRow[] {
  const out: RouteRow[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const declared = layer.route.stack.map((l) => ruleOf(l.handle)).find(Boolean) ?? inherited;
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const p of paths) for (const [method, on] of Object.entries(layer.route.methods)) {
        if (on && method !== '_all') out.push({ method: method.toUpperCase(), path: `${prefix}${p === '/' && prefix ? '' : String(p)}`, rule: declared });
      }
    } else if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      const own = ruleOf(layer.handle);
      if (own) out.push({ method: 'ALL', path: `${prefix}${mount}/*`, rule: own }); // a third-party app: its mount is its rule
      else out.push(...routeTable(layer.handle.stack, prefix + mount, inherited));
    }
  }
  return out;
}

/** What a rule answers a principal: allowed, refused (403) or unauthenticated (401 / sign-in). */
function expected(rule: Action, who: Who): 'allowed' | 'forbidden' | 'unauthenticated' {
  if (who === 'anonymous' || who === 'wrong-token') return 'unauthenticated';
  const kind = RULES[rule];
  if (kind === 'signed-in') return 'allowed';
  if (kind === 'admin') return who === 'admin' ? 'allowed' : 'forbidden';
  return who === 'other' ? 'forbidden' : 'allowed'; // team: the owner's team (owner, mate) and admins
}

describe('authorization: every route has a rule, and every rule holds for every kind of caller', () => {
  let h: Harness;
  let routes: RouteRow[];
  const pages = new Map<Who, Browserless>();
  before(async () => {
    h = await startHarness({ worker: false, env: {
      MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR,
      MAYFLY_API_TOKENS: Object.entries(NAMES).map(([who, name]) => `${name}:${SECRETS[who]}`).join(','),
      MAYFLY_TEAMS: 'qa=owner,mate,slack:UOWNER;platform=other,slack:UOTHER', MAYFLY_ADMINS: 'root',
      MAYFLY_METRICS_TOKEN: METRICS_TOKEN, SLACK_SIGNING_SECRET: SLACK_SECRET, GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, MAYFLY_GITHUB_TEMPLATE: 'tiny',
      MAYFLY_GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN, MAYFLY_GITLAB_TEMPLATE: 'tiny',
      // Every route is asked with a wrong token too, more than the per-address limit allows in a
      // minute; that limit has its own tests (auth-failures, router-access), so it is off here.
      MAYFLY_AUTH_FAILURES_PER_MINUTE: '0',
    } });
    routes = routeTable((h.app as unknown as { router: { stack: Layer[] } }).router.stack);
    for (const who of ['owner', 'mate', 'other', 'admin'] as const) pages.set(who, await signIn(h.baseUrl, SECRETS[who]!));
    pages.set('anonymous', visitor(h.baseUrl));
  });
  after(async () => { await h.close(); });

  /** A fresh environment of the owner's team (queued: no worker runs here). */
  const ownersEnvironment = async () => (await h.ctx.environments.recordDeploy(principalFor(h.config.teams, 'owner', 'token'),
    { name: uniqueName('authz'), template: 'tiny', owner: 'owner', images: h.ctx.catalog.resolveImages('tiny', undefined, {}), seed: null, ttlSeconds: 600 },
    { ttlGiven: true })).env;

  /** A ready saved dataset of the owner's team (a record only: no worker runs here, nothing is copied). */
  const ownersSavedDataset = async () => {
    const name = uniqueName('authz-saved');
    await h.pool.query(`INSERT INTO seed_snapshots (key, dataset, kind, template, content_hash, image, image_digest, volume, status, created_by, team, size_bytes)
      VALUES ($1, $1, 'saved', 'tiny', $1, 'postgres', 'x', $2, 'ready', 'owner', 'qa', 1)`, [name, `mayfly-golden-${name}`]);
    return name;
  };
  /** A ready bug capsule of the owner's team (a record only: no worker runs here, nothing was copied). */
  const ownersCapsule = async () => {
    const id = `cap-${randomBytes(4).toString('hex')}`;
    await h.pool.query(`INSERT INTO capsules (id, name, team, environment_id, environment, template, status, volume, created_by, stack, timeline, logs)
      VALUES ($1, $1, 'qa', gen_random_uuid(), $2, 'tiny', 'ready', $3, 'owner', 'services: []', '[]', '{}')`, [id, uniqueName('authz-capsule'), `mayfly-capsule-test-${id}`]);
    return id;
  };

  /** Whether a saved dataset was deleted (the decision of a form, which answers with a redirect either way). */
  const deleted = async (name: string) => (await h.pool.query(`SELECT status FROM seed_snapshots WHERE dataset = $1`, [name])).rows[0]?.status === 'deleting';

  /** The audit trail's verdict on the latest action of `actor` on `env`. */
  const verdict = async (actor: string, env: string) => {
    const { rows } = await h.pool.query('SELECT outcome FROM audit_log WHERE actor = $1 AND environment = $2 ORDER BY id DESC LIMIT 1', [actor, env]);
    return rows[0]?.outcome as string | undefined;
  };

  it('when the route table is walked, then every route declares a rule that the rule set knows', () => {
    assert.ok(routes.length >= 30, `only ${routes.length} routes found: is the walker broken?`);
    const missing = routes.filter((r) => !r.rule).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(missing, [], 'routes without an authorization rule (api/access.ts rule(...))');
    const known = new Set<string>([...Object.keys(RULES), 'public', 'signature', 'metrics-token']);
    assert.deepEqual(routes.filter((r) => !known.has(r.rule!)).map((r) => `${r.method} ${r.path}: ${r.rule}`), []);
  });

  it('when each REST route is called by each kind of caller, then the answer is the one its rule implies', async () => {
    const rest = routes.filter((r) => r.path.startsWith('/api/v1/') && r.rule! in RULES);
    assert.ok(rest.length >= 12, `REST routes with an action rule: ${rest.length}`);
    const problems: string[] = [];
    for (const route of rest) {
      for (const who of WHO) {
        const rule = route.rule as Action;
        let path = route.path;
        let env: string | undefined;
        if (path.includes('/environments/:name')) {
          // A PUT that creates asks for a new name; every other :name route acts on the owner's environment.
          if (route.method === 'PUT') path = path.replace(':name', uniqueName('authz-new'));
          else path = path.replace(':name', env = (await ownersEnvironment()).name);
        }
        // Deleting acts on a saved dataset of the owner's team; refreshing, on a seed-data one.
        if (route.method === 'DELETE' && path.endsWith('/seeds/:name')) path = path.replace(':name', await ownersSavedDataset());
        path = path.replace('/seeds/:name', '/seeds/demo');
        // A capsule's routes act on a ready capsule of the owner's team (a fresh one each time: DELETE removes it).
        if (path.includes('/capsules/:id')) path = path.replace(':id', await ownersCapsule());
        const body = route.method === 'GET' || route.method === 'DELETE' ? undefined
          : path.endsWith('/extend') ? { ttl: '1h' }
          : path.endsWith('/snapshots') ? { name: uniqueName('saved') }
          : path.endsWith('/environments') || route.method === 'PUT' ? { template: 'tiny' } : {};
        const headers: Record<string, string> = who === 'anonymous' ? {} : { Authorization: `Bearer ${SECRETS[who]}` };
        const res = await h.api(route.method, path, body, headers);
        const want = expected(rule, who);
        const got = res.status === 401 ? 'unauthenticated' : res.status === 403 ? 'forbidden' : 'allowed';
        if (got !== want) problems.push(`${route.method} ${route.path} as ${who}: ${res.status} (${JSON.stringify(res.body).slice(0, 160)}), wanted ${want}`);
        // The decision on an environment is the application layer's: its audit row agrees.
        if (env && RULES[rule] === 'team' && want !== 'unauthenticated') {
          const row = await verdict(NAMES[who]!, env);
          // Allowed: done, or tried and refused by the environment's state (failed: a queued one cannot be saved).
          const ok = want === 'allowed' ? row === 'allowed' || row === 'failed' : row === 'denied';
          if (!ok) problems.push(`${route.method} ${route.path} as ${who}: audit says ${row}, wanted ${want}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('when each web page and form is used by each kind of caller, then the answer is the one its rule implies', async () => {
    const web = routes.filter((r) => !r.path.startsWith('/api/') && r.rule! in RULES && r.method !== 'ALL');
    assert.ok(web.length >= 8, `page routes with an action rule: ${web.length}`);
    const problems: string[] = [];
    for (const route of web) {
      for (const who of WHO.filter((w) => w !== 'wrong-token')) {
        const rule = route.rule as Action;
        const v = pages.get(who)!;
        let env: string | undefined;
        let dataset: string | undefined;
        const path = route.path.startsWith('/datasets/:name') ? route.path.replace(':name', dataset = await ownersSavedDataset())
          : route.path.includes(':name') ? route.path.replace(':name', env = (await ownersEnvironment()).name) : route.path;
        const want = expected(rule, who);
        let res;
        if (path.endsWith('/live')) {
          // An event stream never ends by itself: only its status and headers are read.
          const stream = new AbortController();
          const head = await fetch(`${h.baseUrl}${path}`, { redirect: 'manual', signal: stream.signal, headers: { accept: 'text/event-stream', ...(v.cookie ? { cookie: v.cookie } : {}) } });
          stream.abort();
          res = { status: head.status, html: '', headers: head.headers };
        } else if (route.method === 'GET') res = await v.get(path);
        else {
          const csrf = who === 'anonymous' ? '' : await v.csrf('/');
          res = await v.post(path, { _csrf: csrf, ttl: '1h', template: 'tiny' });
        }
        if (want === 'unauthenticated') {
          const toSignIn = res.status === 303 && /^\/sign-in/.test(res.headers.get('location') ?? '');
          if (!(toSignIn || res.status === 401 || (route.method === 'POST' && res.status === 403))) problems.push(`${route.method} ${route.path} as ${who}: ${res.status}, wanted sign-in`);
          continue;
        }
        if (dataset) {
          if (await deleted(dataset) !== (want === 'allowed')) problems.push(`${route.method} ${route.path} as ${who}: deleted ${await deleted(dataset)}, wanted ${want}`);
        } else if (env && RULES[rule] === 'team') {
          const row = await verdict(NAMES[who]!, env);
          // Allowed: done, or tried and refused by the environment's state (failed: a queued one cannot be saved).
          const ok = want === 'allowed' ? row === 'allowed' || row === 'failed' : row === 'denied';
          if (!ok) problems.push(`${route.method} ${route.path} as ${who}: audit says ${row}, wanted ${want}`);
        } else if (res.status === 401 || res.status === 403 || res.status >= 500) {
          problems.push(`${route.method} ${route.path} as ${who}: ${res.status}, wanted ${want}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('when Slack users of each team act on an environment, then the same rules decide (by their Slack user id)', async () => {
    const problems: string[] = [];
    for (const [user, want] of [['UOWNER', 'allowed'], ['UOTHER', 'denied'], ['UNOBODY', 'denied']] as const) {
      for (const command of ['extend', 'down']) {
        const env = await ownersEnvironment();
        const res = await slackCommand(h.baseUrl, { text: command === 'extend' ? `extend ${env.name} 1h` : `down ${env.name}`, user_id: user, user_name: 'owner' });
        assert.equal(res.status, 200);
        const row = await verdict(`slack:${user}`, env.name);
        if (row !== want) problems.push(`slack ${command} as ${user}: audit says ${row}, wanted ${want}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it("when Slack users of each team click the expiry warning's buttons, then the same rules decide (by their Slack user id)", async () => {
    const problems: string[] = [];
    for (const [user, want] of [['UOWNER', 'allowed'], ['UOTHER', 'denied'], ['UNOBODY', 'denied']] as const) {
      for (const verb of ['extend', 'destroy'] as const) {
        const env = await ownersEnvironment();
        const res = await slackInteraction(h.baseUrl, slackClick(verb, env.name, user));
        assert.equal(res.status, 200);
        const row = await verdict(`slack:${user}`, env.name);
        if (row !== want) problems.push(`slack button ${verb} as ${user}: audit says ${row}, wanted ${want}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('when doors that authenticate otherwise are called without their credentials, then they refuse, and public routes answer anyone', async () => {
    for (const r of routes.filter((x) => x.rule === 'signature')) {
      const res = await fetch(`${h.baseUrl}${r.path}`, { method: r.method, body: 'x', headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 401, `${r.method} ${r.path} unsigned`);
    }
    assert.equal((await slackCommand(h.baseUrl, { text: 'help' }, { secret: 'wrong' })).status, 401);
    assert.equal((await githubHook(h.baseUrl, 'ping', {}, { secret: 'wrong' })).status, 401);
    assert.equal((await gitlabHook(h.baseUrl, mergeRequest('open', 1, 'a'.repeat(40)), { token: 'wrong-token' })).status, 401);
    for (const r of routes.filter((x) => x.rule === 'public' && x.method === 'GET')) {
      const res = await fetch(`${h.baseUrl}${r.path}`, { redirect: 'manual', headers: { accept: r.path.startsWith('/api/') ? 'application/json' : 'text/html' } });
      assert.ok(![401, 403].includes(res.status), `${r.path} answers anyone (got ${res.status})`);
    }
    const metrics = routes.find((x) => x.rule === 'metrics-token')!;
    assert.equal((await fetch(`${h.baseUrl}${metrics.path}`)).status, 401);
    assert.equal((await fetch(`${h.baseUrl}${metrics.path}`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).status, 200);
  });

  it('when the queue dashboard is asked for by each kind of caller with a token, then only the admin gets in', async () => {
    const dashboard = routes.find((x) => x.rule === 'admin.queues');
    assert.ok(dashboard, 'the queue dashboard is in the route table with its rule');
    const path = dashboard.path.replace(/\/\*$/, '/');
    for (const who of WHO) {
      const res = await fetch(`${h.baseUrl}${path}`, { redirect: 'manual', headers: who === 'anonymous' ? {} : { Authorization: `Bearer ${SECRETS[who]}` } });
      const want = expected('admin.queues', who);
      const got = res.status === 401 ? 'unauthenticated' : res.status === 403 ? 'forbidden' : res.status < 400 ? 'allowed' : `status ${res.status}`;
      assert.equal(got, want, `${path} as ${who}`);
    }
  });
});
