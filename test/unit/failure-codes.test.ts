/**
 * Every failure code a user can see on an environment (`failure.code`) is in the list in docs/api.md:
 * the codes the worker, the stack checks and the template catalog raise, read from the source,
 * so a new code cannot ship undocumented.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';

const root = projectRoot();

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((f) => {
    const rel = path.join(dir, f);
    if (statSync(path.join(root, rel)).isDirectory()) return sources(rel);
    return rel.endsWith('.ts') ? [rel] : [];
  });
}

/** Codes that can end up in an environment's failure: raised while provisioning or by the reconciler. */
function raisedCodes(): Map<string, string> {
  const files = [...sources('worker'), ...sources('core/stack'), 'core/catalog/templates.ts', 'core/domain/errors.ts']
    // The worker's internal HTTP endpoint answers the web process, not an environment's failure.
    .filter((f) => !f.endsWith('internal-http.ts'));
  const codes = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/(?:PermanentFailure|StackError|MayflyError)\(\s*'([A-Z_]+)'/g)) codes.set(m[1]!, file);
    for (const m of text.matchAll(/class PolicyError[\s\S]*?super\('([A-Z_]+)'/g)) codes.set(m[1]!, file);
    if (file.startsWith('worker/jobs/')) for (const m of text.matchAll(/code: '([A-Z_]+)'/g)) codes.set(m[1]!, file);
  }
  // provision's fallback for an error that carries no code of its own.
  codes.set('PROVISION_FAILED', 'worker/jobs/provision.ts');
  return codes;
}

function documentedCodes(): Set<string> {
  const doc = readFileSync(path.join(root, 'docs', 'api.md'), 'utf8');
  const start = doc.indexOf('Failure codes you may see');
  assert.ok(start >= 0, 'docs/api.md has the list of failure codes');
  const paragraph = doc.slice(start, doc.indexOf('\n\n', start));
  return new Set([...paragraph.matchAll(/`([A-Z_]{3,})`/g)].map((m) => m[1]!));
}

describe('documented failure codes', () => {
  it('when the source raises a failure code, then docs/api.md lists it', () => {
    const raised = raisedCodes();
    assert.ok(raised.size > 15, `the scan finds the codes (${raised.size})`);
    const documented = documentedCodes();
    const missing = [...raised].filter(([code]) => !documented.has(code)).map(([code, file]) => `${code} (${file})`);
    assert.deepEqual(missing, [], 'failure codes raised but not in the list in docs/api.md');
  });
});
