/**
 * The soak (`npm run soak`, bench/soak/run.ts) at a small size, so that CI runs it too: create and
 * destroy cycles end with zero drift between PostgreSQL and Docker labels and bounded Redis keys.
 * The full-size run (300 cycles) and its results are in bench/results/soak.md.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';

describe('the soak, small', () => {
  it('when 12 environments are created and destroyed, 3 at a time, then nothing drifts and Redis keys stay bounded', { timeout: 900_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-soak-'));
    try {
      const out = path.join(dir, 'soak');
      const child = spawn(process.execPath, ['--import', 'tsx', 'bench/soak/run.ts', '--cycles', '12', '--parallel', '3', '--out', out], {
        cwd: projectRoot(), stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      const result = JSON.parse(await readFile(`${out}.json`, 'utf8'));
      assert.equal(result.completed, 12, `every cycle completed:\n${output}`);
      assert.deepEqual(
        { objects: result.drift.objectsWithoutLiveEnvironment, rows: result.drift.liveRows, containers: result.drift.containers, networks: result.drift.networks, volumes: result.drift.volumes },
        { objects: 0, rows: 0, containers: 0, networks: 0, volumes: 0 }, 'no drift');
      assert.ok(result.redis.maxKeys <= result.redis.keyBound, `Redis keys bounded: ${result.redis.maxKeys} <= ${result.redis.keyBound}`);
      assert.equal(code, 0, output);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
