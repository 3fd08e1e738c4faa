import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTeams } from '../../core/config/config.js';
import { allowed } from '../../core/app/authorization.js';
import { PreviewAccess, safeReturnPath } from '../../core/app/previews.js';
import { parseTemplateMetadata } from '../../core/catalog/templates.js';
import type { Access, Environment } from '../../core/domain/environment.js';
import { ForbiddenError, InputError, StackError } from '../../core/domain/errors.js';
import { principalFor, type Principal } from '../../core/domain/principal.js';

const teams = parseTeams('qa=alice,ci;platform=bob', 'root');
const TEMPLATE = (access?: string) => `entryService: web\nimages:\n  web: { image: "r:5000/shop:main" }\n${access ? `access: ${access}\n` : ''}`;
const catalog = (access: Access) => ({ has: () => true, get: () => ({ access }) }) as never;

function env(over: Partial<Environment> = {}): Environment {
  return { id: '11111111-1111-4111-8111-111111111111', name: 'shop-pr-1', template: 'shop', team: 'qa', status: 'ready', access: null, ...over } as Environment;
}
function access(templateAccess: Access = 'signed-in', secret = 'a-session-secret-0123456789') {
  return new PreviewAccess({ secret, teams, apiTokens: [{ name: 'alice', secret: 'alice-secret-0123456789' }, { name: 'bob', secret: 'bob-secret-0123456789' }], catalog: catalog(templateAccess), grantTtlMs: 3_600_000 });
}
const alice = principalFor(teams, 'alice', 'user');
const bob = principalFor(teams, 'bob', 'user');
const root = principalFor(teams, 'root', 'user');

/** Changes one character of the payload, keeping the signature: a tampered value. */
function tamper(value: string): string {
  const i = 5;
  return value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
}

describe('who may open an environment (the environment.open rule)', () => {
  const matrix: [Access, Principal | undefined, boolean][] = [
    ['public', undefined, true], ['public', bob, true],
    ['signed-in', undefined, false], ['signed-in', alice, true], ['signed-in', bob, true], ['signed-in', root, true],
    ['team', undefined, false], ['team', alice, true], ['team', principalFor(teams, 'ci', 'token'), true], ['team', bob, false], ['team', root, true],
  ];
  for (const [level, who, expected] of matrix) {
    it(`when it is ${level} and ${who ? `${who.name} (team ${who.team}${who.admin ? ', admin' : ''})` : 'nobody signed in'} asks, then ${expected ? 'yes' : 'no'}`, () => {
      assert.equal(access().mayOpen(who, env({ access: level })), expected);
    });
  }
  it('when a share link holder asks, then it opens the one environment it was made for, whatever its access, and nothing else is allowed', () => {
    const share: Principal = { name: 'share link', kind: 'share', team: '', admin: false, environmentId: env().id };
    assert.equal(access().mayOpen(share, env({ access: 'team' })), true);
    assert.equal(access().mayOpen(share, env({ id: '22222222-2222-4222-8222-222222222222' })), false, 'another environment');
    for (const action of ['environment.view', 'environment.destroy', 'environment.share', 'seed.list', 'admin.queues'] as const) {
      assert.equal(allowed(share, action, { label: 'x', team: '', id: env().id }), false, action);
    }
  });
  it('when the environment sets no access, then its template\'s applies; a template says none, then signed-in', () => {
    assert.equal(access('public').accessOf(env()), 'public');
    assert.equal(access('public').accessOf(env({ access: 'team' })), 'team');
    assert.equal(parseTemplateMetadata('t', TEMPLATE(), 'x', 'r').access, 'signed-in');
    assert.equal(parseTemplateMetadata('t', TEMPLATE('team'), 'x', 'r').access, 'team');
    assert.throws(() => parseTemplateMetadata('t', TEMPLATE('everyone'), 'x', 'r'), (e: StackError) => /access must be one of public, signed-in, team/.test(e.message));
  });
});

describe('the sign-in handshake\'s ticket', () => {
  it('when a ticket is redeemed once for its environment, then it gives a grant that names the person; a second time it is refused', async () => {
    const a = access();
    const ticket = a.ticket(alice, 'session', env(), '/cart?x=1');
    const first = await a.redeemTicket(ticket, env());
    assert.ok(first.ok);
    assert.equal(first.returnPath, '/cart?x=1');
    assert.equal(a.fromGrant(first.grant, env())?.name, 'alice');
    const again = await a.redeemTicket(ticket, env());
    assert.deepEqual(again, { ok: false, problem: 'it was used already (a sign-in link works once)' });
  });
  it('when a ticket is forged, tampered, for another environment, from another server or expired, then it is refused saying why', async (t) => {
    const a = access();
    const ticket = a.ticket(alice, 'session', env(), '/');
    const refused = async (value: unknown, e = env(), by = a) => { const r = await by.redeemTicket(value, e); assert.equal(r.ok, false); return (r as { problem: string }).problem; };
    assert.match(await refused('nonsense'), /malformed/);
    assert.match(await refused(tamper(ticket)), /signature does not match/);
    assert.match(await refused(ticket, env({ id: '22222222-2222-4222-8222-222222222222', name: 'other' })), /another environment \("shop-pr-1"\), not "other"/);
    assert.match(await refused(ticket, env({ id: '22222222-2222-4222-8222-222222222222' })), /earlier environment named "shop-pr-1"/);
    assert.match(await refused(ticket, env(), access('signed-in', 'another-secret-0123456789')), /signature does not match/);
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 61_000 });
    assert.match(await refused(ticket), /expired/);
  });
  it('when the person may not open it, then no ticket is made (403 naming the team)', () => {
    assert.throws(() => access().ticket(bob, 'session', env({ access: 'team' }), '/'), (e: ForbiddenError) => e.status === 403 && /belongs to team "qa"; bob \(team "platform"\) may not open it/.test(e.message));
  });
  it('when a return path is a URL or a protocol-relative path, then it is not a return path', () => {
    for (const bad of ['https://evil.example/', '//evil.example/', '/\\evil.example', 'evil', '', '/a\nb', 42]) assert.equal(safeReturnPath(bad), undefined, String(bad));
    for (const good of ['/', '/cart', '/a/b?c=d#e']) assert.equal(safeReturnPath(good), good);
  });
});

describe('the router\'s cookie and bearer tokens', () => {
  it('when a grant is tampered, of another environment or expired, or its token was removed, then it names nobody', async (t) => {
    const a = access();
    const r = await a.redeemTicket(a.ticket(alice, 'session', env(), '/'), env());
    assert.ok(r.ok);
    assert.equal(a.fromGrant(tamper(r.grant), env()), undefined);
    assert.equal(a.fromGrant(r.grant, env({ id: '22222222-2222-4222-8222-222222222222' })), undefined);
    const noTokens = new PreviewAccess({ secret: 'a-session-secret-0123456789', teams, apiTokens: [], catalog: catalog('signed-in'), grantTtlMs: 1000 });
    assert.equal(noTokens.fromGrant(r.grant, env()), undefined, 'the token alice signed in with is gone');
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 3_600_001 });
    assert.equal(a.fromGrant(r.grant, env()), undefined);
  });
  it('when a bearer token is a Mayfly API token, then it is its principal; any other is nobody', () => {
    assert.deepEqual(access().fromBearer('bob-secret-0123456789'), { name: 'bob', kind: 'token', team: 'platform', admin: false });
    assert.equal(access().fromBearer('bob-secret-012345678'), undefined);
  });
});

describe('share links', () => {
  it('when the team shares, then the token opens that environment until it expires; tampered, other or stale tokens are refused', async (t) => {
    const a = access();
    await assert.rejects(a.share(bob, env(), '1h'), ForbiddenError, 'another team may not share');
    await assert.rejects(a.share(alice, env(), '8d'), (e: InputError) => e.problems[0]?.field === 'ttl' && /maximum of 7d/.test(e.problems[0].message));
    await assert.rejects(a.share(alice, env(), 'soon'), (e: InputError) => e.problems[0]?.field === 'ttl');
    await assert.rejects(a.share(alice, env({ status: 'destroyed' }), '1h'), (e: Error & { code?: string }) => e.code === 'ENVIRONMENT_GONE');
    const { token, expiresAt } = await a.share(alice, env({ access: 'team' }), '2h');
    assert.ok(Math.abs(expiresAt.getTime() - Date.now() - 7_200_000) < 5000);
    const r = a.redeemShare(token, env({ access: 'team' }));
    assert.ok(r.ok);
    const holder = a.fromGrant(r.grant, env());
    assert.equal(holder?.kind, 'share');
    assert.equal(a.mayOpen(holder, env({ access: 'team' })), true);
    assert.ok(a.redeemShare(token, env()).ok, 'a share link works more than once');
    assert.equal(a.redeemShare(tamper(token), env()).ok, false);
    assert.equal(a.redeemShare(token, env({ id: '22222222-2222-4222-8222-222222222222' })).ok, false, 'recreated under a new id');
    assert.equal((await a.redeemTicket(token, env())).ok, false, 'a share token is no sign-in ticket');
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 7_200_001 });
    assert.match((a.redeemShare(token, env()) as { problem: string }).problem, /expired at/);
    assert.equal(a.fromGrant(r.grant, env()), undefined, 'its cookie ends with the link');
  });
});
