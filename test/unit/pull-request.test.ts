import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { commentMarker, inert, parsePrCommand, renderComment } from '../../core/doors/pull-request.js';
import type { Environment } from '../../core/domain/environment.js';

const NOW = new Date('2026-12-02T05:00:00Z');
function env(over: Partial<Environment> = {}): Environment {
  return {
    id: '00000000-0000-4000-8000-000000000001', name: 'shop-pr-5', template: 'shop', status: 'ready', owner: 'github:octocat', team: 'qa',
    door: 'github', access: null, origin: 'github:qa/shop#5', images: { web: 'reg/mayfly/shop:abc', db: 'reg/mayfly/postgres:15' }, digests: {},
    seed: 'demo', ttlSeconds: 14400, expiresAt: new Date(NOW.getTime() + 90 * 60_000), generation: 3, project: 'mayfly-shop-pr-5',
    urls: { web: 'http://shop-pr-5.mayfly.example' }, endpoints: {}, lastActivityAt: null, failure: null, destroyReason: null, destroyedBy: null,
    seededAt: null, node: null, createdAt: NOW, updatedAt: NOW, readyAt: NOW, destroyedAt: null, snapshotKey: null, cloneStrategy: null, parentId: null, forkDepth: 0, restoreFrom: null, ...over,
  };
}

describe('the pull request comment', () => {
  it('when an environment is ready, then the comment starts with its marker and shows state, address, seed, time left, services and links', () => {
    const body = renderComment({ env: env(), entryService: 'web', sha: 'a'.repeat(40), publicUrl: 'https://mayfly.example', now: NOW,
      services: [{ service: 'web', state: 'running', health: 'healthy' }, { service: 'db', state: 'running', health: 'none' }] });
    assert.ok(body.startsWith(`${commentMarker('shop-pr-5')}\n`));
    assert.equal(commentMarker('shop-pr-5'), '<!-- mayfly:env=shop-pr-5 -->');
    assert.match(body, /`shop-pr-5` is \*\*ready\*\*/);
    assert.match(body, /\| Address \| http:\/\/shop-pr-5\.mayfly\.example \|/);
    assert.match(body, /\| Seed \| `demo` \|/);
    assert.match(body, /\| Time left \| 1h30m \(until 2026-12-02T06:30:00.000Z\) \|/);
    assert.match(body, /\| Generation \| 3 \(commit aaaaaaaaaaaa\) \|/);
    assert.match(body, /\| web \| `reg\/mayfly\/shop:abc` \| running, healthy \|/);
    assert.match(body, /\| db \| `reg\/mayfly\/postgres:15` \| running \|/);
    assert.match(body, /\[Page\]\(https:\/\/mayfly\.example\/environments\/shop-pr-5\) · \[Logs\]\(https:\/\/mayfly\.example\/environments\/shop-pr-5#services\) · \[Timeline\]\(https:\/\/mayfly\.example\/environments\/shop-pr-5#timeline-h\)/);
    assert.match(body, /`\/mayfly extend 2h`/);
  });

  it('when it failed once, then the last failure and its reason are shown, with text from outside made inert', () => {
    const body = renderComment({ env: env({ status: 'failed', failure: { code: 'IMAGE_PULL_FAILED', message: 'x' } }), publicUrl: 'https://m', now: NOW,
      lastFailure: { at: NOW, code: 'IMAGE_PULL_FAILED', message: 'manifest unknown | <script>alert(1)</script>\n@everyone' } });
    assert.match(body, /\*\*Last failure\*\* \(2026-12-02T05:00:00.000Z\): `IMAGE_PULL_FAILED`: manifest unknown \\\| \\<script\\>alert\(1\)\\<\/script\\> @\u200beveryone/);
    assert.match(body, /\| Address \| not ready yet \|/);
  });

  it('when the environment is destroyed, then the comment says so with the reason, and offers no commands', () => {
    const body = renderComment({ env: env({ status: 'destroyed', destroyReason: 'pull-request-closed', destroyedBy: 'github:octocat' }), publicUrl: 'https://m', now: NOW });
    assert.match(body, /`shop-pr-5` was \*\*destroyed\*\*/);
    assert.match(body, /Reason: pull-request-closed \(by github:octocat\)\./);
    assert.doesNotMatch(body, /Address|Time left|Commands/);
  });

  it('when the commands are not offered (a GitLab merge request\'s note), then the live body has no commands line', () => {
    const offered = renderComment({ env: env(), publicUrl: 'https://m', now: NOW });
    const note = renderComment({ env: env(), publicUrl: 'https://m', now: NOW, commands: false });
    assert.match(offered, /Commands \(a comment that starts with one\)/);
    assert.doesNotMatch(note, /Commands|\/mayfly extend/);
    assert.equal(note, offered.split('\n\nCommands')[0]);
  });
  it('when inert() gets Markdown and mentions, then they cannot format, break tables or notify anyone', () => {
    assert.equal(inert('a|b `c` @d'), 'a\\|b \\`c\\` @\u200bd');
    assert.equal(inert('x'.repeat(10), 5), 'xxxx…');
  });
});

describe('commands in pull request comments', () => {
  it('when a comment starts with /mayfly, then its command is read', () => {
    assert.deepEqual(parsePrCommand('/mayfly extend 2h'), { kind: 'extend', ttl: '2h', seconds: 7200 });
    assert.deepEqual(parsePrCommand('\n  /Mayfly reset-db  \nthanks!'), { kind: 'reset-db' });
    assert.deepEqual(parsePrCommand('/mayfly redeploy'), { kind: 'redeploy' });
    assert.deepEqual(parsePrCommand('/mayfly destroy'), { kind: 'destroy' });
    assert.deepEqual(parsePrCommand('/mayfly'), { kind: 'help' });
    assert.deepEqual(parsePrCommand('/mayfly capsule'), { kind: 'capsule' });
    assert.deepEqual(parsePrCommand('/mayfly capsule pay fails after coupon\nmore text'), { kind: 'capsule', note: 'pay fails after coupon' });
  });
  it('when a comment is not a command, then it is none of Mayfly\'s business', () => {
    assert.equal(parsePrCommand('LGTM'), undefined);
    assert.equal(parsePrCommand('please run /mayfly destroy'), undefined);
    assert.equal(parsePrCommand('/mayflyx destroy'), undefined);
    assert.equal(parsePrCommand(''), undefined);
  });
  it('when a command is unknown or malformed, then the problem is named', () => {
    assert.deepEqual(parsePrCommand('/mayfly dance'), { kind: 'unknown', problem: 'unknown command "dance"' });
    assert.equal(parsePrCommand('/mayfly extend forever')?.kind, 'unknown');
    assert.equal(parsePrCommand('/mayfly extend')?.kind, 'unknown');
    assert.equal(parsePrCommand('/mayfly destroy now')?.kind, 'unknown');
  });
});
