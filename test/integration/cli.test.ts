import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, TOKEN, uniqueName, type Harness } from '../helpers/harness.js';
import { mayfly } from '../helpers/cli.js';

describe('the mayfly CLI, run as a child process against the service', () => {
  let h: Harness;
  let env: Record<string, string>;
  before(async () => {
    h = await startHarness();
    env = { MAYFLY_URL: h.baseUrl, MAYFLY_TOKEN: TOKEN };
  });
  after(async () => { await h.close(); });

  it('when the command line is wrong, then it exits 2 with the usage', async () => {
    for (const args of [[], ['up'], ['launch'], ['up', '--template'], ['status'], ['extend', 'x', 'soon'], ['ls', '--wait']]) {
      const r = await mayfly(args, env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: mayfly/);
    }
    const invalid = await mayfly(['up', '--template', 'shop', '--name', 'Bad_Name'], env);
    assert.equal(invalid.code, 2, 'the API calls it invalid (400)');
    assert.match(invalid.stderr, /name/);
    assert.equal((await mayfly(['--help'], env)).code, 0);
  });

  it('when the token is wrong, missing, or Mayfly unreachable, then it exits 4', async () => {
    const bad = await mayfly(['ls'], { ...env, MAYFLY_TOKEN: 'wrong-token-123456' });
    assert.equal(bad.code, 4);
    assert.match(bad.stderr, /MAYFLY_TOKEN/);
    assert.equal((await mayfly(['ls'], { MAYFLY_URL: h.baseUrl })).code, 4);
    assert.equal((await mayfly(['ls'], { ...env, MAYFLY_URL: 'http://127.0.0.1:9' })).code, 4);
  });

  it('when up --wait succeeds, then it prints only the URL and exits 0; status, ls, logs, extend and down --wait work', async () => {
    const name = uniqueName('shop-cli');
    const up = await mayfly(['up', '--template', 'shop', '--name', name, '--tag', 'pr-2', '--ttl', '1h', '--wait', '--timeout', '3m'], env);
    assert.equal(up.code, 0, up.stderr);
    const url = up.stdout.trim();
    assert.match(url, /^http:\/\/[a-z0-9-]+\.localhost:\d+$/, "the router address of the environment");
    // Previews are private: the router lets an API token in.
    assert.match(await (await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).text(), /data-testid="tag">pr-2</);

    const status = await mayfly(['status', name], env);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /status: +ready/);
    assert.match(status.stdout, /via cli/);
    assert.equal((await h.store.getByName(name))!.door, 'cli');

    const ls = await mayfly(['ls'], env);
    assert.match(ls.stdout, new RegExp(`${name} +shop +ready +cli`));
    const logs = await mayfly(['logs', name], env);
    assert.match(logs.stdout, /requested/);
    assert.match(logs.stdout, /ready/);
    const ext = await mayfly(['extend', name, '2h'], env);
    assert.equal(ext.code, 0, ext.stderr);

    const down = await mayfly(['down', name, '--wait'], env);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /destroyed/);
    const after = await mayfly(['status', name], env);
    assert.match(after.stdout, /reason: +destroyed \(by test\)/);
    assert.equal((await mayfly(['status', 'no-such-env'], env)).code, 1);
  });

  it('when the environment fails, then up --wait exits 1 with the reason', async () => {
    const name = uniqueName('shop-cli-bad');
    const r = await mayfly(['up', '--template', 'shop', '--name', name, '--tag', 'no-such-tag', '--wait', '--timeout', '2m'], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /IMAGE_NOT_FOUND/);
    assert.equal(r.stdout.trim(), '');
  });

  it('when the environment is not ready within --timeout, then up exits 3', async () => {
    const name = uniqueName('shop-cli-slow');
    // No worker takes it, so it is still queued when the timeout ends, however fast this machine
    // is (the shop is ready in about 1.3 s on an idle one: a 2 s timeout alone did not hold).
    await h.stopWorker();
    try {
      const r = await mayfly(['up', '--template', 'shop', '--name', name, '--wait', '--timeout', '2s'], env);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /still queued/);
    } finally {
      await h.startWorker();
    }
    await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
  });
});
