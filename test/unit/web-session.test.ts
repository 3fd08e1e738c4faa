import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Request, Response } from 'express';
import { ConfigError, loadConfig } from '../../core/config/config.js';
import { parseTrustedProxies } from '../../core/config/web.js';
import { SessionKeeper } from '../../api/web/session.js';

const base = { MAYFLY_API_TOKENS: 'alice:alice-secret-123', DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/x' };

function fakeRes() {
  const cookies: string[] = [];
  return { cookies, res: { append: (name: string, value: string) => { if (name === 'Set-Cookie') cookies.push(value); } } as unknown as Response };
}
const fakeReq = (remote: string, headers: Record<string, string>) =>
  ({ socket: { remoteAddress: remote }, get: (h: string) => headers[h.toLowerCase()] }) as unknown as Request;

describe('web sign-in settings and sessions', () => {
  it('when MAYFLY_TRUSTED_PROXIES has IPs and CIDRs, then they are matched; when an entry is malformed, then the error names the variable', () => {
    const list = parseTrustedProxies('10.0.0.0/8, 192.168.1.5, ::1, fd00::/8');
    assert.ok(list.check('10.200.3.4', 'ipv4'));
    assert.ok(list.check('192.168.1.5', 'ipv4'));
    assert.ok(!list.check('192.168.1.6', 'ipv4'));
    assert.ok(list.check('::1', 'ipv6'));
    assert.ok(list.check('fd12::1', 'ipv6'));
    for (const bad of ['10.0.0.0/33', 'proxy.example.com', '10.0.0.1/8/1', '1.2.3']) {
      assert.throws(() => parseTrustedProxies(bad), (err: Error) => err instanceof ConfigError && /MAYFLY_TRUSTED_PROXIES/.test(err.message), bad);
    }
  });

  it('when MAYFLY_SESSION_SECRET is unset, then a random one is made per process and flagged; when it is too short, then config fails', () => {
    const a = loadConfig(base);
    const b = loadConfig(base);
    assert.equal(a.web.sessionSecretGenerated, true);
    assert.notEqual(a.web.sessionSecret, b.web.sessionSecret);
    const c = loadConfig({ ...base, MAYFLY_SESSION_SECRET: 'a-long-enough-session-secret' });
    assert.equal(c.web.sessionSecretGenerated, false);
    assert.throws(() => loadConfig({ ...base, MAYFLY_SESSION_SECRET: 'short' }), /MAYFLY_SESSION_SECRET/);
  });

  it('when the public URL is https, then the session cookie is Secure, HttpOnly and SameSite=Lax; over http it is not Secure', () => {
    for (const [url, secure] of [['https://mayfly.example.com', true], ['http://127.0.0.1:8080', false]] as const) {
      const keeper = new SessionKeeper(loadConfig({ ...base, MAYFLY_PUBLIC_URL: url }));
      const { cookies, res } = fakeRes();
      keeper.start(res, 'alice');
      assert.match(cookies[0]!, /^mayfly_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+/);
      assert.equal(/; Secure/.test(cookies[0]!), secure, url);
    }
  });

  it('when a sealed value is changed, or signed with another secret, then it is refused; the CSRF token is tied to the session id', () => {
    const keeper = new SessionKeeper(loadConfig({ ...base, MAYFLY_SESSION_SECRET: 'first-secret-0123456789' }));
    const other = new SessionKeeper(loadConfig({ ...base, MAYFLY_SESSION_SECRET: 'second-secret-0123456789' }));
    const sealed = keeper.seal({ sid: 's1', name: 'alice', exp: Date.now() + 1000 });
    assert.equal(keeper.unseal<{ name: string }>(sealed)?.name, 'alice');
    assert.equal(other.unseal(sealed), undefined);
    const [payload, mac] = sealed.split('.');
    const changed = Buffer.from(JSON.stringify({ sid: 's1', name: 'root', exp: Date.now() + 1000 })).toString('base64url');
    assert.equal(keeper.unseal(`${changed}.${mac}`), undefined);
    assert.equal(keeper.unseal(`${payload}.`), undefined);
    const s1 = { sid: 's1', exp: Date.now() + 1000 };
    const s2 = { sid: 's2', exp: Date.now() + 1000 };
    assert.ok(keeper.checkCsrf(s1, keeper.csrfToken(s1)));
    assert.ok(!keeper.checkCsrf(s2, keeper.csrfToken(s1)));
    assert.ok(!keeper.checkCsrf(s1, undefined));
    assert.ok(!keeper.checkCsrf(s1, ''));
  });

  it('when a user header arrives, then it is believed only from a trusted address (IPv4-mapped too), and only the configured headers count', () => {
    const keeper = new SessionKeeper(loadConfig({ ...base, MAYFLY_TRUSTED_PROXIES: '10.0.0.0/8', MAYFLY_PROXY_USER_HEADERS: 'X-Forwarded-Email' }));
    assert.equal(keeper.proxyUser(fakeReq('::ffff:10.1.2.3', { 'x-forwarded-email': 'qa@example.com' })), 'qa@example.com');
    assert.equal(keeper.proxyUser(fakeReq('10.1.2.3', { 'x-forwarded-email': 'qa@example.com' })), 'qa@example.com');
    assert.equal(keeper.proxyUser(fakeReq('127.0.0.1', { 'x-forwarded-email': 'qa@example.com' })), undefined);
    assert.equal(keeper.proxyUser(fakeReq('10.1.2.3', { 'x-forwarded-user': 'qa' })), undefined);
    assert.equal(keeper.proxyUser(fakeReq('10.1.2.3', { 'x-forwarded-email': 'bad name<script>' })), undefined);
    const none = new SessionKeeper(loadConfig(base));
    assert.equal(none.proxyUser(fakeReq('127.0.0.1', { 'x-forwarded-user': 'qa' })), undefined, 'no trusted proxies by default');
  });
});
