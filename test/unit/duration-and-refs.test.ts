import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../core/domain/duration.js';
import { digestProblem, isValidTag, parseImageRef, withTag } from '../../core/domain/image-ref.js';

describe('durations', () => {
  it('reads what users type', () => {
    assert.equal(parseDuration('30s'), 30);
    assert.equal(parseDuration('4h'), 14400);
    assert.equal(parseDuration('1h30m'), 5400);
    assert.equal(parseDuration('2d'), 172800);
    assert.equal(parseDuration('90'), 90);
    assert.equal(parseDuration(45), 45);
    assert.equal(parseDuration(' 5M '), 300);
  });
  it('refuses what is not a positive duration', () => {
    for (const bad of ['', '0s', '-5s', '1.5h', 'forever', '4 hours', 'h', 0, -1, 1.5, null, undefined, {}, '30s30s']) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });
  it('formats back', () => {
    assert.equal(formatDuration(5400), '1h30m');
    assert.equal(formatDuration(86400), '1d');
    assert.equal(formatDuration(0), '0s');
  });
});

describe('image references (the registry grammar)', () => {
  it('accepts references Docker accepts', () => {
    assert.deepEqual(parseImageRef('127.0.0.1:5000/mayfly/shop:pr-1'), { repository: '127.0.0.1:5000/mayfly/shop', tag: 'pr-1' });
    assert.deepEqual(parseImageRef('postgres'), { repository: 'postgres' });
    assert.deepEqual(parseImageRef('localhost/a/b_c__d-e.f:1.0'), { repository: 'localhost/a/b_c__d-e.f', tag: '1.0' });
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseImageRef(`ghcr.io/org/app@${digest}`), { repository: 'ghcr.io/org/app', digest });
    assert.ok(parseImageRef('[::1]:5000/app:tag'));
  });
  it('refuses references Docker refuses', () => {
    for (const bad of ['', 'UPPER/case', 'Shop', 'app:', 'app:-tag', 'app:.tag', 'a//b', '/abs', 'app:tag with space', 'a\nb',
      'app:${TAG}', 'app;rm -rf /', `app:${'x'.repeat(129)}`, 'app@sha256:short', 'ü/app']) {
      assert.equal(parseImageRef(bad), undefined, JSON.stringify(bad));
    }
  });
  describe('digests: exactly "sha256:" and 64 lower-case hex digits', () => {
    const repo = '127.0.0.1:5000/mayfly/shop';
    it('when a digest is sha256 with 64 lower-case hex digits, then it is accepted with and without a tag', () => {
      const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
      assert.deepEqual(parseImageRef(`${repo}@${digest}`), { repository: repo, digest });
      assert.deepEqual(parseImageRef(`${repo}:main@${digest}`), { repository: repo, tag: 'main', digest });
      assert.equal(digestProblem(`${repo}@${digest}`), undefined);
    });
    const bad: [string, string][] = [
      ['63 hex digits', `sha256:${'a'.repeat(63)}`],
      ['65 hex digits', `sha256:${'a'.repeat(65)}`],
      ['64 upper-case hex digits', `sha256:${'A'.repeat(64)}`],
      ['mixed case', `sha256:${'aB'.repeat(32)}`],
      ['sha512 with 128 hex digits', `sha512:${'a'.repeat(128)}`],
      ['an upper-case algorithm', `SHA256:${'a'.repeat(64)}`],
      ['32 hex digits (the grammar\'s minimum)', `sha256:${'a'.repeat(32)}`],
      ['no hex at all', 'sha256:'],
      ['a non-hex digit', `sha256:${'a'.repeat(63)}g`],
    ];
    for (const [what, digest] of bad) {
      it(`when a digest has ${what}, then the reference is refused and the problem names the digest`, () => {
        assert.equal(parseImageRef(`${repo}@${digest}`), undefined);
        assert.equal(parseImageRef(`${repo}:main@${digest}`), undefined);
        assert.match(digestProblem(`${repo}@${digest}`) ?? '', /must be "sha256:" followed by exactly 64 lower-case hex digits/);
      });
    }
  });
  it('checks tags alone', () => {
    assert.ok(isValidTag('pr-42'));
    assert.ok(isValidTag('v1.2.3_rc'));
    assert.ok(isValidTag('0123abc'));
    for (const bad of ['', '-x', '.x', 'a b', 'a:b', 'a/b', 'x'.repeat(129), 'prö', '"pr"', 42]) assert.ok(!isValidTag(bad), JSON.stringify(bad));
  });
  it('replaces a tag and drops a digest', () => {
    assert.equal(withTag('127.0.0.1:5000/mayfly/shop:main', 'pr-1'), '127.0.0.1:5000/mayfly/shop:pr-1');
    assert.equal(withTag(`r.io/a@sha256:${'b'.repeat(64)}`, 'x'), 'r.io/a:x');
  });
});
