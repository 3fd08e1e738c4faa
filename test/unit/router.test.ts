import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { environmentAddress, nameFromHost, publicUrls } from '../../core/doors/addresses.js';
import { ConfigError, loadConfig } from '../../core/config/config.js';
import { canTransition, LEASED_STATUSES, LIVE_STATUSES, SETTLED, sourcesOf } from '../../core/domain/environment.js';
import { StackError } from '../../core/domain/errors.js';
import { parseTemplateMetadata } from '../../core/catalog/templates.js';
import { escapeHtml, renderPage, unknownNamePage } from '../../api/router/pages.js';
import { parseTarget } from '../../api/router/proxy.js';

const TEMPLATE = `entryService: web\nimages:\n  web: { image: "r:5000/shop:main" }\n`;

describe('router host parsing', () => {
  it('when the Host is <name>.<domain> with or without a port then it names the environment', () => {
    assert.equal(nameFromHost('shop-pr-1.localhost:8081', 'localhost'), 'shop-pr-1');
    assert.equal(nameFromHost('shop-pr-1.localhost', 'localhost'), 'shop-pr-1');
    assert.equal(nameFromHost('SHOP-PR-1.LocalHost:80', 'localhost'), 'shop-pr-1', 'host names are case-insensitive');
    assert.equal(nameFromHost('shop.localhost.:8081', 'localhost'), 'shop', 'a trailing dot is the same name');
    assert.equal(nameFromHost('bug-123.preview.example.com', 'preview.example.com'), 'bug-123');
  });
  it('when the Host is anything else then it names no environment', () => {
    for (const host of [undefined, '', 'localhost:8081', '127.0.0.1:8081', '[::1]:8081', 'shop.example.com', 'a.b.localhost',
      '-bad.localhost', 'shop_pr.localhost', `${'x'.repeat(64)}.localhost`, 'shoplocalhost', '.localhost', 'shop.localhost.evil.com']) {
      assert.equal(nameFromHost(host, 'localhost'), undefined, String(host));
    }
  });
});

describe('environment addresses', () => {
  it('when the router is on its own port then the address carries it; behind a proxy on 443 it does not', () => {
    assert.equal(environmentAddress(loadConfig({}).router, 'shop-pr-1'), 'http://shop-pr-1.localhost:8081');
    const behind = loadConfig({ MAYFLY_DOMAIN: 'preview.example.com', MAYFLY_ROUTER_PUBLIC_SCHEME: 'https', MAYFLY_ROUTER_PUBLIC_PORT: '443' }).router;
    assert.equal(environmentAddress(behind, 'shop-pr-1'), 'https://shop-pr-1.preview.example.com');
  });
  it('when an environment publishes services then the entry one gets the router address and others their host port', () => {
    const urls = publicUrls(loadConfig({}).router, '127.0.0.1', 'shop-pr-1', 'web', { web: '127.0.0.1:32768', admin: '127.0.0.1:32769' });
    assert.deepEqual(urls, { web: 'http://shop-pr-1.localhost:8081', admin: 'http://127.0.0.1:32769' });
    assert.deepEqual(publicUrls(loadConfig({}).router, '127.0.0.1', 'x', 'web', {}), {}, 'nothing published, no address');
  });
  it('when an endpoint is read then only host:port forms are targets', () => {
    assert.deepEqual(parseTarget('127.0.0.1:32768'), { host: '127.0.0.1', port: 32768 });
    for (const bad of [undefined, '', '127.0.0.1', 'http://127.0.0.1:1', '127.0.0.1:abc']) assert.equal(parseTarget(bad), undefined, String(bad));
  });
});

describe('router configuration', () => {
  it('when unset then the domain is localhost, the port 8081 on 127.0.0.1 only, and activity is flushed every 5 s', () => {
    const { router } = loadConfig({});
    assert.deepEqual({ ...router }, { domain: 'localhost', port: 8081, bind: '127.0.0.1', publicScheme: 'http', publicPort: 8081, activityFlushMs: 5000 });
  });
  it('when MAYFLY_ROUTER_BIND names an address then the router listens there (IPv6 in brackets too)', () => {
    assert.equal(loadConfig({ MAYFLY_ROUTER_BIND: '0.0.0.0' }).router.bind, '0.0.0.0');
    assert.equal(loadConfig({ MAYFLY_ROUTER_BIND: '[::]' }).router.bind, '::');
    assert.equal(loadConfig({ MAYFLY_ROUTER_BIND: '10.1.2.3' }).router.bind, '10.1.2.3');
  });
  it('when a value is wrong then the error names its variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ MAYFLY_DOMAIN: 'not a domain' }, /MAYFLY_DOMAIN/],
      [{ MAYFLY_DOMAIN: 'http://x.com' }, /MAYFLY_DOMAIN/],
      [{ MAYFLY_ROUTER_PORT: '70000' }, /MAYFLY_ROUTER_PORT/],
      [{ MAYFLY_ROUTER_PUBLIC_SCHEME: 'ftp' }, /MAYFLY_ROUTER_PUBLIC_SCHEME/],
      [{ MAYFLY_ROUTER_PUBLIC_PORT: '0' }, /MAYFLY_ROUTER_PUBLIC_PORT/],
      [{ MAYFLY_ACTIVITY_FLUSH: 'soon' }, /MAYFLY_ACTIVITY_FLUSH/],
      [{ MAYFLY_ROUTER_BIND: 'everywhere' }, /MAYFLY_ROUTER_BIND/],
      [{ MAYFLY_ROUTER_BIND: '127.0.0.1:8081' }, /MAYFLY_ROUTER_BIND/],
    ];
    for (const [env, pattern] of cases) assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), JSON.stringify(env));
  });
});

describe('sleep and wake in the lifecycle', () => {
  it('when ready and idle then it may sleep; when sleeping it may wake, be redeployed, destroyed, or fail to wake', () => {
    assert.ok(canTransition('ready', 'sleeping'));
    for (const to of ['ready', 'queued', 'destroying', 'failed'] as const) assert.ok(canTransition('sleeping', to), to);
    assert.deepEqual(sourcesOf('sleeping'), ['ready'], 'only a ready environment goes to sleep');
    for (const from of ['queued', 'provisioning', 'failed', 'destroying', 'destroyed'] as const) assert.ok(!canTransition(from, 'sleeping'), from);
    assert.ok(!canTransition('sleeping', 'destroyed'), 'a sleeping environment is torn down through destroying');
  });
  it('when sleeping then it is live (the reaper keeps its containers), leased (its TTL runs) and settled', () => {
    assert.ok(LIVE_STATUSES.includes('sleeping'));
    assert.ok(LEASED_STATUSES.includes('sleeping'));
    assert.ok(SETTLED.includes('sleeping'));
  });
});

describe('template sleep setting', () => {
  it('when a template says sleep: { after: 30m } then it sleeps after 1800 s; without it, never', () => {
    assert.deepEqual(parseTemplateMetadata('t', `${TEMPLATE}sleep: { after: 30m }\n`, '', 'r').sleep, { afterSeconds: 1800 });
    assert.equal(parseTemplateMetadata('t', TEMPLATE, '', 'r').sleep, undefined);
  });
  it('when the sleep setting is wrong then the error names the field', () => {
    for (const [yaml, field] of [['sleep: { after: soon }', 'sleep.after'], ['sleep: {}', 'sleep.after'], ['sleep: 30m', 'sleep'], ['sleep: { after: 1m, deep: true }', 'sleep.deep']] as const) {
      assert.throws(() => parseTemplateMetadata('t', `${TEMPLATE}${yaml}\n`, '', 'r'),
        (err: unknown) => err instanceof StackError && JSON.stringify((err as StackError).details).includes(field), yaml);
    }
  });
});

describe('router pages', () => {
  it('when a name or host holds markup then the page shows it as text', () => {
    const html = renderPage(unknownNamePage({ publicUrl: 'http://m:8080', domain: 'localhost', exampleAddress: 'http://<name>.localhost:8081' }, '<script>x</script>'));
    assert.ok(!html.includes('<script>x'), html);
    assert.ok(html.includes('&lt;script&gt;x&lt;/script&gt;'));
    assert.equal(escapeHtml(`"'&`), '&quot;&#39;&amp;');
  });
});
