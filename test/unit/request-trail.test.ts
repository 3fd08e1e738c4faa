import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RequestTrail } from '../../api/router/trail.js';

describe('router request trail (bug capsules)', () => {
  it('when more requests come than it keeps then the oldest go and the newest stay, oldest first', () => {
    const trail = new RequestTrail(3);
    for (let i = 1; i <= 7; i++) trail.record('env-a', 'GET', `/p${i}`, 200, i);
    assert.deepEqual(trail.recent('env-a').map((e) => e.path), ['/p5', '/p6', '/p7']);
    trail.record('env-a', 'POST', '/p8', 201, 8);
    assert.deepEqual(trail.recent('env-a').map((e) => `${e.method} ${e.path} ${e.status}`), ['GET /p6 200', 'GET /p7 200', 'POST /p8 201']);
  });

  it('when a path carries a query string or a fragment then only the path is kept', () => {
    const trail = new RequestTrail(10);
    trail.record('env-a', 'get', '/login?token=s3cret&email=a@b.example', 302, 12.6, new Date('2026-01-02T03:04:05Z'));
    trail.record('env-a', 'GET', '/cart#secret-fragment', 200, 1);
    trail.record('env-a', 'GET', '?only=query', 200, 1);
    const [first, second, third] = trail.recent('env-a');
    assert.deepEqual(first, { method: 'GET', path: '/login', status: 302, durationMs: 13, at: '2026-01-02T03:04:05.000Z' });
    assert.equal(second!.path, '/cart');
    assert.equal(third!.path, '/');
    assert.doesNotMatch(JSON.stringify(trail.recent('env-a')), /s3cret|a@b|secret-fragment|only=query/);
  });

  it('when an entry is kept then it has exactly method, path, status, duration and time: no body, header or cookie field', () => {
    const trail = new RequestTrail(2);
    trail.record('env-a', 'PUT', '/x', 500, 3);
    assert.deepEqual(Object.keys(trail.recent('env-a')[0]!).sort(), ['at', 'durationMs', 'method', 'path', 'status']);
    trail.record('env-a', 'BR EW<script>', '/y', 200, 1);
    assert.equal(trail.recent('env-a')[1]!.method, 'OTHER', 'a method that is not a plain word is not echoed');
  });

  it('when environments are many then each has its own ring and the tracked ones are bounded', () => {
    const trail = new RequestTrail(5, 2);
    trail.record('env-a', 'GET', '/a', 200, 1);
    trail.record('env-b', 'GET', '/b', 200, 1);
    assert.deepEqual(trail.recent('env-a').map((e) => e.path), ['/a']);
    assert.deepEqual(trail.recent('env-b').map((e) => e.path), ['/b']);
    trail.record('env-a', 'GET', '/a2', 200, 1); // env-a heard from last: env-b is the oldest
    trail.record('env-c', 'GET', '/c', 200, 1);
    assert.deepEqual(trail.recent('env-b'), [], 'the environment not heard from longest is dropped');
    assert.equal(trail.recent('env-a').length, 2);
    trail.forget('env-a');
    assert.deepEqual(trail.recent('env-a'), []);
  });

  it('when a long path comes then it is cut, and what recent() returns is a copy', () => {
    const trail = new RequestTrail(2);
    trail.record('env-a', 'GET', `/${'x'.repeat(2000)}`, 200, 1);
    assert.equal(trail.recent('env-a')[0]!.path.length, 512);
    trail.recent('env-a')[0]!.path = '/changed';
    assert.notEqual(trail.recent('env-a')[0]!.path, '/changed');
    assert.throws(() => new RequestTrail(0), /at least 1/);
  });
});
