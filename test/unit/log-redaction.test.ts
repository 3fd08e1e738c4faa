import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, scrubLogLine } from '../../core/platform/log.js';

/** A logger writing into an array, as a test reads its JSON lines back. */
function capture() {
  const lines: string[] = [];
  const log = createLogger('debug', 'redact-test', { destination: { write: (l: string) => { lines.push(l); } } as never });
  return { log, lines, text: () => lines.join('') };
}

const SECRET = 'sup3r-s3cret-value-0123456789';

describe('log redaction at any depth', () => {
  it('when a secret sits four levels deep, then it never reaches the line, and the rest of the line keeps its shape', () => {
    const { log, lines, text } = capture();
    log.info({ a: { b: { c: { password: SECRET, keep: 'visible' } } }, envId: 'e-1' }, 'deep');
    assert.ok(!text().includes(SECRET), text());
    const line = JSON.parse(lines[0]!);
    assert.deepEqual(line.a, { b: { c: { password: '[redacted]', keep: 'visible' } } });
    assert.equal(line.envId, 'e-1');
    assert.equal(line.msg, 'deep');
    assert.equal(line.level, 30);
    assert.equal(line.name, 'redact-test');
    assert.ok(lines[0]!.endsWith('\n'), 'one line each');
    assert.deepEqual(Object.keys(line), ['level', 'time', 'pid', 'name', 'a', 'envId', 'msg'], 'fields in pino\'s order');
  });

  it("when an error carries its request's config (an Authorization header, as HTTP clients attach it), then the header is redacted and the error kept", () => {
    const { log, lines, text } = capture();
    const err = Object.assign(new Error('Request failed with status code 500'), {
      config: { url: 'https://api.example/x', method: 'post', headers: { Authorization: `Bearer ${SECRET}`, 'X-Registry-Auth': SECRET, Accept: 'application/json' } },
      response: { status: 500, request: { headers: { cookie: `mayfly_session=${SECRET}` } } },
    });
    log.error({ err, envId: 'e-2' }, 'callback failed');
    assert.ok(!text().includes(SECRET), text());
    const line = JSON.parse(lines[0]!);
    assert.equal(line.err.message, 'Request failed with status code 500');
    assert.equal(line.err.type, 'Error');
    assert.match(line.err.stack, /Request failed/);
    assert.equal(line.err.config.headers.Authorization, '[redacted]');
    assert.equal(line.err.config.headers['X-Registry-Auth'], '[redacted]');
    assert.equal(line.err.config.headers.Accept, 'application/json');
    assert.equal(line.err.response.request.headers.cookie, '[redacted]');
    assert.equal(line.err.config.url, 'https://api.example/x');
  });

  it('when a DATABASE_URL with a password sits inside a string field or a message, then the password is cut out and the rest kept', () => {
    const { log, lines, text } = capture();
    const url = `postgres://mayfly:${SECRET}@db.internal:5432/mayfly`;
    log.warn({ detail: { text: `cannot connect to ${url}: ECONNREFUSED` }, list: [{ dsn: url }] }, `pool error on ${url}`);
    assert.ok(!text().includes(SECRET), text());
    const line = JSON.parse(lines[0]!);
    assert.equal(line.detail.text, 'cannot connect to postgres://mayfly:[redacted]@db.internal:5432/mayfly: ECONNREFUSED');
    assert.equal(line.list[0].dsn, 'postgres://mayfly:[redacted]@db.internal:5432/mayfly');
    assert.equal(line.msg, 'pool error on postgres://mayfly:[redacted]@db.internal:5432/mayfly');
  });

  it('when secrets hide under keys that only end like one, in arrays, in child bindings, or as key=value text, then each is redacted', () => {
    const { log, text } = capture();
    const child = log.child({ sessionSecret: SECRET });
    child.info({ items: [{ githubToken: SECRET }, { nested: [{ apiKey: SECRET }] }], note: `password=${SECRET} and token=${SECRET}`, header: `Authorization: Bearer ${SECRET}` }, 'mixed');
    assert.ok(!text().includes(SECRET), text());
  });

  it('when the format is pretty, then the same secrets are redacted there too', async () => {
    const chunks: string[] = [];
    const destination = new Writable({ write(chunk: Buffer, _enc, done) { chunks.push(chunk.toString()); done(); } });
    const log = createLogger('info', 'redact-test', { format: 'pretty', destination: destination as never });
    log.info({ a: { b: { c: { password: SECRET } } }, dsn: `postgres://u:${SECRET}@h/db` }, 'pretty line');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const text = chunks.join('');
    assert.match(text, /pretty line/);
    assert.match(text, /\[redacted\]/);
    assert.ok(!text.includes(SECRET), text);
  });

  it('when a line holds nothing secret, then it is written unchanged', () => {
    const line = '{"level":30,"time":"2026-01-01T00:00:00.000Z","pid":1,"name":"x","envId":"e","msg":"environment ready"}\n';
    assert.equal(scrubLogLine(line), line);
    const innocent = '{"level":30,"msg":"authFailures counted","authFailures":3,"secretRef":"MAYFLY_CALLBACK_SECRET"}\n';
    assert.equal(scrubLogLine(innocent), innocent, 'keys that only mention a secret are kept');
  });
});
