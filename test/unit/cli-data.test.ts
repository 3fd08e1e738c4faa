/**
 * The CLI's data verbs (checkpoint, checkpoints, rewind, fork, datasets, datasets rm) against a
 * loopback stand-in for Mayfly's REST API: the exact call each makes (method, path, body,
 * headers), what it prints where, its exit code, and what it refuses before calling anything.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../cli/main.js';
import { EXIT } from '../../cli/client.js';
import { startApiStandIn, type ApiCall } from '../helpers/standin.js';

const TOKEN = 'cli-data-token-123456';

function environment(name: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '6a1f4c1e-0000-4000-8000-000000000001', name, template: 'shop', status, owner: 'qa', team: 'default', door: 'cli',
    images: { web: 'shop-web:pr-1' }, digests: {}, seed: 'customers', ttl: '4h', expiresAt: '2026-12-02T12:00:00.000Z',
    expiresInSeconds: 14_400, generation: 2, url: status === 'ready' ? `http://${name}.localhost:8080` : null, urls: {},
    database: null, node: null, queuePosition: null, estimatedStartSeconds: null, queueReason: null, failure: null,
    destroyReason: null, destroyedBy: null, access: 'team', createdAt: '2026-12-02T08:00:00.000Z', readyAt: null, destroyedAt: null,
    forkOf: null, ...extra,
  };
}

function checkpoint(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, environment: 'shop-1', reason: 'manual', status: 'ready', generation: 2, sizeBytes: 48 * 1024 * 1024, pauseMs: 120,
    error: null, createdBy: 'qa', createdAt: '2026-12-02T08:10:00.000Z', readyAt: '2026-12-02T08:10:01.000Z', ...extra,
  };
}

const notFound = (name: string): [number, unknown] => [404, { error: { code: 'NOT_FOUND', message: `environment "${name}" not found` } }];

describe('the CLI data verbs against a stand-in API', () => {
  let api: Awaited<ReturnType<typeof startApiStandIn>>;
  /** What the stand-in answers: set per test; by default every call is a 404 on "no-such-env". */
  let route: (call: ApiCall, url: URL) => [number, unknown];
  let env: Record<string, string>;

  before(async () => {
    api = await startApiStandIn((call, url) => route(call, url));
    env = { MAYFLY_URL: api.url, MAYFLY_TOKEN: TOKEN };
  });
  after(async () => { await api.close(); });
  beforeEach(() => {
    api.calls.length = 0;
    route = () => notFound('no-such-env');
  });

  async function mayfly(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(args, env, { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  function only(): ApiCall {
    assert.equal(api.calls.length, 1, `exactly one call: ${api.calls.map((c) => `${c.method} ${c.path}`).join(', ')}`);
    const call = api.calls[0]!;
    assert.equal(call.headers.authorization, `Bearer ${TOKEN}`, 'the token goes as a bearer token');
    assert.equal(call.headers['x-mayfly-client'], 'cli', 'the API records the door as cli');
    return call;
  }

  describe('checkpoint <name>', () => {
    it('when given a name, then it POSTs an empty body to .../checkpoints and prints the id on stdout', async () => {
      route = () => [202, { ...checkpoint('cp-1a2b3c4d', { status: 'pending', sizeBytes: null, pauseMs: null, readyAt: null }), delivery: 'queued' }];
      const r = await mayfly(['checkpoint', 'shop-1']);
      assert.equal(r.code, EXIT.OK, r.err);
      const call = only();
      assert.equal(call.method, 'POST');
      assert.equal(call.path, '/api/v1/environments/shop-1/checkpoints');
      assert.deepEqual(call.json, {});
      assert.equal(r.out, 'cp-1a2b3c4d', 'only the id, so CP=$(mayfly checkpoint x) works');
      assert.match(r.err, /shop-1: checkpoint cp-1a2b3c4d recorded/);
    });
    it('when the name is missing, extra or a flag is given, then it exits 2 with the usage naming what is wrong, calling nothing', async () => {
      for (const [args, want] of [
        [['checkpoint'], /expected exactly one environment name/],
        [['checkpoint', 'a', 'b'], /expected exactly one environment name/],
        [['checkpoint', 'shop-1', '--wait'], /--wait does not apply to "checkpoint"/],
      ] as const) {
        const r = await mayfly([...args]);
        assert.equal(r.code, EXIT.USAGE, args.join(' '));
        assert.match(r.err, want);
        assert.match(r.err, /usage: mayfly/);
        assert.equal(r.out, '');
      }
      assert.equal(api.calls.length, 0);
    });
    it('when the environment is unknown, then it prints the API\'s NOT_FOUND and exits 1', async () => {
      const r = await mayfly(['checkpoint', 'no-such-env']);
      assert.equal(r.code, EXIT.FAILED);
      assert.equal(only().path, '/api/v1/environments/no-such-env/checkpoints');
      assert.match(r.err, /^mayfly: NOT_FOUND: environment "no-such-env" not found$/);
      assert.equal(r.out, '');
    });
    it('when the name holds "/" or "?", then it stays one path segment (the API refuses it as a name, never another route)', async () => {
      await mayfly(['checkpoint', 'a/b?c']);
      assert.equal(only().path, '/api/v1/environments/a%2Fb%3Fc/checkpoints');
    });
    it('when the environment is not ready or has no database (409), then it prints the code and reason and exits 1', async () => {
      route = () => [409, { error: { code: 'NO_DATABASE', message: 'template "static" of environment "site-1" has no database service; there is nothing to checkpoint' } }];
      const r = await mayfly(['checkpoint', 'site-1']);
      assert.equal(r.code, EXIT.FAILED);
      assert.match(r.err, /NO_DATABASE: template "static" of environment "site-1" has no database service/);
    });
  });

  describe('checkpoints <name>', () => {
    it('when it has checkpoints, then it GETs .../checkpoints and prints them as a table, newest first as answered', async () => {
      route = () => [200, { checkpoints: [
        checkpoint('cp-22222222', { reason: 'before-rewind', createdBy: 'alice' }),
        checkpoint('cp-11111111', { status: 'failed', error: 'volume gone', sizeBytes: null, pauseMs: null }),
      ], limit: 5 }];
      const r = await mayfly(['checkpoints', 'shop-1']);
      assert.equal(r.code, EXIT.OK, r.err);
      const call = only();
      assert.equal(call.method, 'GET');
      assert.equal(call.path, '/api/v1/environments/shop-1/checkpoints');
      const lines = r.out.split('\n');
      assert.match(lines[0]!, /^ID +REASON +STATUS +PAUSE +SIZE +BY +CREATED$/);
      assert.match(lines[1]!, /^cp-22222222 +before-rewind +ready +120 ms +48(\.0)? MiB +alice +2026-12-02T08:10:00.000Z$/);
      assert.match(lines[2]!, /^cp-11111111 +manual +failed \(volume gone\) +- +- +qa /);
      assert.equal(lines.length, 3);
    });
    it('when it has none, then it says so on stderr and exits 0', async () => {
      route = () => [200, { checkpoints: [], limit: 5 }];
      const r = await mayfly(['checkpoints', 'shop-1']);
      assert.equal(r.code, EXIT.OK);
      assert.equal(r.out, '');
      assert.match(r.err, /no checkpoints/);
    });
    it('when the environment is unknown, then it exits 1 naming it; without a name, 2', async () => {
      const r = await mayfly(['checkpoints', 'no-such-env']);
      assert.equal(r.code, EXIT.FAILED);
      assert.match(r.err, /NOT_FOUND: environment "no-such-env" not found/);
      api.calls.length = 0;
      const u = await mayfly(['checkpoints']);
      assert.equal(u.code, EXIT.USAGE);
      assert.match(u.err, /expected exactly one environment name/);
      assert.equal(api.calls.length, 0);
    });
  });

  describe('rewind <name> <checkpoint>', () => {
    it('when given both, then it POSTs {checkpoint} to .../rewind and prints the new status', async () => {
      route = () => [202, environment('shop-1', 'queued', { generation: 3 })];
      const r = await mayfly(['rewind', 'shop-1', 'cp-1a2b3c4d']);
      assert.equal(r.code, EXIT.OK, r.err);
      const call = only();
      assert.equal(call.method, 'POST');
      assert.equal(call.path, '/api/v1/environments/shop-1/rewind');
      assert.deepEqual(call.json, { checkpoint: 'cp-1a2b3c4d' });
      assert.equal(r.out, 'shop-1 queued');
      assert.match(r.err, /shop-1: rewinding to cp-1a2b3c4d/);
    });
    it('when the checkpoint is unknown (400 naming the field), then it prints the field and exits 2', async () => {
      route = () => [400, { error: { code: 'INVALID_REQUEST', message: 'invalid request: checkpoint', details: [
        { field: 'checkpoint', message: 'environment "shop-1" has no checkpoint "cp-deadbeef"; GET /api/v1/environments/shop-1/checkpoints lists its checkpoints' },
      ] } }];
      const r = await mayfly(['rewind', 'shop-1', 'cp-deadbeef']);
      assert.equal(r.code, EXIT.USAGE);
      assert.match(r.err, /INVALID_REQUEST: invalid request: checkpoint\n {2}checkpoint: environment "shop-1" has no checkpoint "cp-deadbeef"/);
      assert.equal(r.out, '');
    });
    it('when the environment is unknown, then it exits 1 with NOT_FOUND', async () => {
      const r = await mayfly(['rewind', 'no-such-env', 'cp-1a2b3c4d']);
      assert.equal(r.code, EXIT.FAILED);
      assert.equal(only().path, '/api/v1/environments/no-such-env/rewind');
      assert.match(r.err, /NOT_FOUND: environment "no-such-env" not found/);
    });
    it('when the checkpoint or more is missing, then it exits 2 saying <name> <checkpoint>, calling nothing', async () => {
      for (const args of [['rewind'], ['rewind', 'shop-1'], ['rewind', 'shop-1', 'cp-1', 'cp-2']]) {
        const r = await mayfly(args);
        assert.equal(r.code, EXIT.USAGE, args.join(' '));
        assert.match(r.err, /rewind needs <name> <checkpoint>/);
      }
      assert.equal(api.calls.length, 0);
    });
    it('when --timeout is not a duration, then it exits 2 before rewinding anything', async () => {
      // (Should it call anyway, the environment settles at once, so the test ends either way.)
      route = (call) => call.method === 'POST' ? [202, environment('shop-1', 'queued')] : [200, environment('shop-1', 'failed')];
      const r = await mayfly(['rewind', 'shop-1', 'cp-1a2b3c4d', '--wait', '--timeout', 'soon']);
      assert.equal(r.code, EXIT.USAGE, r.err);
      assert.match(r.err, /--timeout must be a duration/);
      assert.equal(api.calls.length, 0, 'a usage error changes nothing');
    });
    it('when --wait and the rewind settles ready, then it polls the environment and prints its URL, exit 0', async () => {
      let polls = 0;
      route = (call) => {
        if (call.method === 'POST') return [202, environment('shop-1', 'queued', { generation: 3 })];
        polls++;
        return [200, environment('shop-1', polls < 2 ? 'provisioning' : 'ready', { generation: 3 })];
      };
      const r = await mayfly(['rewind', 'shop-1', 'cp-1a2b3c4d', '--wait', '--timeout', '2m']);
      assert.equal(r.code, EXIT.OK, r.err);
      assert.equal(api.calls[0]!.method, 'POST');
      const gets = api.calls.slice(1);
      assert.ok(gets.length >= 2);
      for (const g of gets) {
        assert.equal(g.method, 'GET');
        assert.match(g.path, /^\/api\/v1\/environments\/shop-1\?wait=\d+$/, 'a long-poll of the environment');
      }
      assert.equal(r.out, 'shop-1 ready http://shop-1.localhost:8080');
    });
    it('when --wait and the rewind fails, then it exits 1', async () => {
      route = (call) => call.method === 'POST'
        ? [202, environment('shop-1', 'queued')]
        : [200, environment('shop-1', 'failed', { failure: { code: 'SEED_FAILED', message: 'restore failed' } })];
      const r = await mayfly(['rewind', 'shop-1', 'cp-1a2b3c4d', '--wait']);
      assert.equal(r.code, EXIT.FAILED);
      assert.match(r.out, /^shop-1 failed$/);
    });

    it('when --wait and --timeout runs out while it provisions, then it exits 3 saying it keeps going', async () => {
      route = (call) => call.method === 'POST' ? [202, environment('shop-1', 'queued')] : [200, environment('shop-1', 'provisioning')];
      const r = await mayfly(['rewind', 'shop-1', 'cp-1a2b3c4d', '--wait', '--timeout', '1s']);
      assert.equal(r.code, EXIT.TIMEOUT, r.err);
      assert.equal(r.out, 'shop-1 provisioning');
      assert.match(r.err, /shop-1 is still provisioning after 1 s \(--timeout\); it keeps going: mayfly status shop-1/);
    });
  });

  describe('fork <name> <for>', () => {
    it('when given both, then it POSTs {for} to .../forks and prints the fork\'s name', async () => {
      route = () => [202, { ...environment('shop-1--alice', 'queued', { forkOf: { id: '6a1f4c1e-0000-4000-8000-000000000009', name: 'shop-1', depth: 1 } }), action: 'created', delivery: 'queued' }];
      const r = await mayfly(['fork', 'shop-1', 'alice']);
      assert.equal(r.code, EXIT.OK, r.err);
      const call = only();
      assert.equal(call.method, 'POST');
      assert.equal(call.path, '/api/v1/environments/shop-1/forks');
      assert.deepEqual(call.json, { for: 'alice' });
      assert.equal(r.out, 'shop-1--alice queued');
      assert.match(r.err, /shop-1--alice: forked from shop-1/);
    });
    it('when --wait, then it polls the fork (not the parent) until it settles', async () => {
      route = (call) => call.method === 'POST'
        ? [202, { ...environment('shop-1--bob', 'queued'), action: 'created', delivery: 'queued' }]
        : [200, environment('shop-1--bob', 'ready')];
      const r = await mayfly(['fork', 'shop-1', 'bob', '--wait']);
      assert.equal(r.code, EXIT.OK, r.err);
      assert.match(api.calls[1]!.path, /^\/api\/v1\/environments\/shop-1--bob\?wait=\d+$/);
      assert.equal(r.out, 'shop-1--bob ready http://shop-1--bob.localhost:8080');
    });
    it('when --wait and the fork settles asleep, then it is as good as ready (as for up), exit 0', async () => {
      route = (call) => call.method === 'POST'
        ? [202, { ...environment('shop-1--bob', 'queued'), action: 'created', delivery: 'queued' }]
        : [200, environment('shop-1--bob', 'sleeping')];
      const r = await mayfly(['fork', 'shop-1', 'bob', '--wait']);
      assert.equal(r.code, EXIT.OK, r.err);
      assert.equal(r.out, 'shop-1--bob sleeping');
    });
    it('when the fork exists (409 NAME_TAKEN) or the caller is of another team (403 FORBIDDEN), then it exits 1 with the reason', async () => {
      route = () => [409, { error: { code: 'NAME_TAKEN', message: 'environment "shop-1--alice" exists' } }];
      const taken = await mayfly(['fork', 'shop-1', 'alice']);
      assert.equal(taken.code, EXIT.FAILED);
      assert.match(taken.err, /NAME_TAKEN: environment "shop-1--alice" exists/);
      route = () => [403, { error: { code: 'FORBIDDEN', message: 'environment "shop-1" belongs to team "billing"' } }];
      const other = await mayfly(['fork', 'shop-1', 'alice']);
      assert.equal(other.code, EXIT.FAILED, 'another team\'s environment is a refusal, not a bad token');
      assert.match(other.err, /FORBIDDEN: environment "shop-1" belongs to team "billing"/);
      assert.doesNotMatch(other.err, /MAYFLY_TOKEN/);
    });
    it('when "for" is malformed (400 naming the field), then it prints the field and exits 2', async () => {
      route = () => [400, { error: { code: 'INVALID_REQUEST', message: 'invalid request: for', details: [{ field: 'for', message: 'is required: who the fork is for' }] } }];
      const r = await mayfly(['fork', 'shop-1', 'Alice!']);
      assert.equal(r.code, EXIT.USAGE);
      assert.deepEqual(only().json, { for: 'Alice!' }, 'the API judges "for", the CLI passes it as given');
      assert.match(r.err, /\n {2}for: is required/);
    });
    it('when <for> is missing, then it exits 2 saying <name> <for>, calling nothing', async () => {
      for (const args of [['fork'], ['fork', 'shop-1'], ['fork', 'shop-1', 'a', 'b']]) {
        const r = await mayfly(args);
        assert.equal(r.code, EXIT.USAGE, args.join(' '));
        assert.match(r.err, /fork needs <name> <for>/);
      }
      assert.equal(api.calls.length, 0);
    });
    it('when --timeout is not a duration, then it exits 2 before forking anything', async () => {
      route = (call) => call.method === 'POST'
        ? [202, { ...environment('shop-1--alice', 'queued'), action: 'created', delivery: 'queued' }]
        : [200, environment('shop-1--alice', 'failed')];
      const r = await mayfly(['fork', 'shop-1', 'alice', '--wait', '--timeout=later']);
      assert.equal(r.code, EXIT.USAGE, r.err);
      assert.match(r.err, /--timeout must be a duration/);
      assert.equal(api.calls.length, 0, 'a usage error changes nothing');
    });
  });

  describe('datasets and datasets rm', () => {
    it('when listing, then it GETs /seeds and shows saved ones (all with --all)', async () => {
      route = () => [200, { datasets: [
        { name: 'customers', kind: 'dataset' },
        { name: 'bug-1234', kind: 'saved', status: 'ready', owner: 'qa', team: 'default', sizeBytes: 1024 * 1024, source: { environment: 'shop-1', template: 'shop' }, createdAt: '2026-12-02T08:00:00.000Z' },
      ] }];
      const r = await mayfly(['datasets']);
      assert.equal(r.code, EXIT.OK, r.err);
      const call = only();
      assert.equal(call.method, 'GET');
      assert.equal(call.path, '/api/v1/seeds');
      assert.match(r.out, /^NAME +KIND/);
      assert.match(r.out, /\nbug-1234 +saved +ready +qa +default +1(\.0)? MiB +shop-1 \(shop\)/);
      assert.doesNotMatch(r.out, /customers/);
      const all = await mayfly(['datasets', '--all']);
      assert.match(all.out, /\ncustomers +dataset +.*seed-data\//);
    });
    it('when removing, then it DELETEs /seeds/<name>; an unknown one exits 1; a missing name exits 2 calling nothing', async () => {
      route = (call) => call.path.endsWith('/bug-1234')
        ? [200, { name: 'bug-1234', owner: 'qa', team: 'default', volumes: ['v1'], delivery: 'queued' }]
        : [404, { error: { code: 'NOT_FOUND', message: 'saved dataset "nope" not found' } }];
      const r = await mayfly(['datasets', 'rm', 'bug-1234']);
      assert.equal(r.code, EXIT.OK, r.err);
      assert.equal(only().method, 'DELETE');
      assert.equal(api.calls[0]!.path, '/api/v1/seeds/bug-1234');
      assert.equal(r.out, 'bug-1234 deleted');
      const gone = await mayfly(['datasets', 'rm', 'nope']);
      assert.equal(gone.code, EXIT.FAILED);
      assert.match(gone.err, /NOT_FOUND: saved dataset "nope" not found/);
      api.calls.length = 0;
      const u = await mayfly(['datasets', 'rm']);
      assert.equal(u.code, EXIT.USAGE);
      assert.match(u.err, /datasets rm needs exactly one dataset name/);
      assert.equal(api.calls.length, 0);
    });
  });

  describe('auth and reachability, for a data verb', () => {
    it('when the token is refused (401), then it exits 4 pointing at MAYFLY_TOKEN', async () => {
      route = () => [401, { error: { code: 'UNAUTHORIZED', message: 'unknown token' } }];
      const r = await mayfly(['checkpoints', 'shop-1']);
      assert.equal(r.code, EXIT.AUTH_OR_CONNECTION);
      assert.match(r.err, /UNAUTHORIZED: unknown token \(check MAYFLY_TOKEN\)/);
    });
    it('when Mayfly does not answer, then it exits 4 naming the address', async () => {
      const r = await run(['rewind', 'shop-1', 'cp-1a2b3c4d'], { MAYFLY_URL: 'http://127.0.0.1:9', MAYFLY_TOKEN: TOKEN }, { out: () => undefined, err: (s) => { assert.match(s, /cannot reach Mayfly at http:\/\/127\.0\.0\.1:9/); } });
      assert.equal(r, EXIT.AUTH_OR_CONNECTION);
    });
  });
});
