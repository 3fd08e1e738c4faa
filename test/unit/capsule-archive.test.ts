import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tarGz } from '../../api/tar.js';
import { stackText } from '../../worker/jobs/capsules.js';

describe('bug capsule archive (tar.gz)', () => {
  it('when files are packed then tar lists and extracts each of them byte for byte', () => {
    const dump = Buffer.from([0, 1, 2, 255, 10, 13]);
    const archive = tarGz([
      { name: 'manifest.json', data: JSON.stringify({ id: 'cap-1a2b3c4d' }) },
      { name: 'logs/web.log', data: 'line 1\nline 2\n'.repeat(100) },
      { name: 'database.sql.gz', data: dump },
    ]);
    const dir = mkdtempSync(path.join(tmpdir(), 'mayfly-tar-'));
    try {
      const file = path.join(dir, 'a.tar.gz');
      writeFileSync(file, archive);
      assert.deepEqual(execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n'), ['manifest.json', 'logs/web.log', 'database.sql.gz']);
      execFileSync('tar', ['-xzf', file, '-C', dir]);
      assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')), { id: 'cap-1a2b3c4d' });
      assert.equal(readFileSync(path.join(dir, 'logs/web.log'), 'utf8'), 'line 1\nline 2\n'.repeat(100));
      assert.deepEqual(readFileSync(path.join(dir, 'database.sql.gz')), dump);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(gunzipSync(archive).length % 512, 0, 'whole 512-byte blocks');
  });

  it('when a name is over 100 bytes then packing refuses it', () => {
    assert.throws(() => tarGz([{ name: 'x'.repeat(101), data: '' }]), /over 100 bytes/);
  });

  it('when the stack is recorded then secret-looking environment values are left out, others kept', () => {
    const text = stackText({
      services: [{ name: 'db', image: 'postgres:16', environment: { POSTGRES_PASSWORD: 'hunter2', API_KEY: 'k', POSTGRES_DB: 'shop', DATABASE_URL: 'postgres://shop:hunter3@db:5432/shop' } } as never],
      volumes: ['pgdata'],
    });
    assert.doesNotMatch(text, /hunter2|hunter3/);
    assert.match(text, /DATABASE_URL: postgres:\/\/shop:\(left-out\)@db:5432\/shop/);
    assert.match(text, /POSTGRES_DB: shop/);
    assert.match(text, /POSTGRES_PASSWORD: \(left out of the capsule\)/);
    assert.match(text, /image: postgres:16/);
  });
});
