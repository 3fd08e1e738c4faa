import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../cli/args.js';
import { run } from '../../cli/main.js';
import { EXIT } from '../../cli/client.js';
import { backoffMs } from '../../worker/jobs/notify.js';
import { callbackUrlProblem } from '../../core/doors/requests.js';

const SPEC = { booleans: ['wait'], values: ['template', 'ttl'], lists: ['image'] };

describe('CLI arguments', () => {
  it('when flags come as "--k v", "--k=v", booleans and repeats, then each is read', () => {
    const a = parseArgs(['up', '--template', 'shop', '--ttl=2h', '--wait', '--image', 'web=pr-1', '--image=db=15', 'extra'], SPEC);
    assert.equal(a.command, 'up');
    assert.deepEqual(a.flags, { template: 'shop', ttl: '2h', wait: true });
    assert.deepEqual(a.lists, { image: ['web=pr-1', 'db=15'] });
    assert.deepEqual(a.positionals, ['extra']);
  });
  it('when a flag is unknown, lacks its value or a boolean gets one, then it is a usage error', () => {
    assert.throws(() => parseArgs(['up', '--colour', 'red'], SPEC), UsageError);
    assert.throws(() => parseArgs(['up', '--template'], SPEC), UsageError);
    assert.throws(() => parseArgs(['up', '--template', '--wait'], SPEC), UsageError);
    assert.throws(() => parseArgs(['up', '--wait=yes'], SPEC), UsageError);
  });
  it('when MAYFLY_URL or MAYFLY_TOKEN is missing, then the CLI exits 4 without calling anything', async () => {
    const err: string[] = [];
    const code = await run(['ls'], {}, { out: () => undefined, err: (s) => err.push(s) });
    assert.equal(code, EXIT.AUTH_OR_CONNECTION);
    assert.match(err.join(''), /MAYFLY_URL/);
    assert.equal(await run(['ls'], { MAYFLY_URL: 'ftp://x', MAYFLY_TOKEN: 't' }, { out: () => undefined, err: () => undefined }), EXIT.AUTH_OR_CONNECTION);
  });
  it('when --timeout is not a duration, then it exits 2', async () => {
    assert.equal(await run(['up', '--template', 'shop', '--timeout', 'soon'], { MAYFLY_URL: 'http://127.0.0.1:9', MAYFLY_TOKEN: 't' }, { out: () => undefined, err: () => undefined }), EXIT.USAGE);
  });
});

describe('notifier retries and callback URLs', () => {
  it('when attempts fail, then the backoff doubles from 1 s up to a minute', () => {
    assert.deepEqual([1, 2, 3, 4, 7, 8, 20].map(backoffMs), [1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
  });
  it('when a callbackUrl is checked, then only credential-free http(s) URLs pass', () => {
    assert.equal(callbackUrlProblem('https://ci.example/hook?job=1'), undefined);
    assert.equal(callbackUrlProblem('http://127.0.0.1:8000/x'), undefined);
    for (const bad of ['ftp://x/y', 'nope', '', 7, 'https://u:p@ci.example/', `https://x/${'a'.repeat(2100)}`]) assert.ok(callbackUrlProblem(bad), String(bad).slice(0, 20));
  });
});
