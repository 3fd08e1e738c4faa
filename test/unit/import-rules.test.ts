/**
 * The import graph's rules (docs/architecture.md): api/, worker/ and cli/ sit over core/ and never
 * import each other; only worker/runtime/ talks to Docker; the store never reaches up into the
 * application layer; the domain is pure; and the production code has no import cycles.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../core/config/config.js';

const root = projectRoot();
const PRODUCTION = ['api', 'worker', 'cli', 'core'];

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

/** file -> what it imports: project files (relative to the root) and packages (by name). */
function importsOf(file: string): { files: string[]; packages: string[] } {
  const text = readFileSync(path.join(root, file), 'utf8');
  const files: string[] = [];
  const packages: string[] = [];
  // Type-only imports count too: a type from another process is still a dependency on its shape.
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = (m[1] ?? m[2])!;
    if (spec.startsWith('.')) files.push(path.relative(root, path.resolve(path.dirname(path.join(root, file)), spec)).replace(/\.js$/, '.ts'));
    else if (!spec.startsWith('node:')) packages.push(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return { files, packages };
}

const graph = new Map(PRODUCTION.flatMap(sources).map((f) => [f, importsOf(f)]));
const top = (f: string) => f.split('/')[0]!;
const under = (f: string, dir: string) => f === dir || f.startsWith(`${dir}/`);

function violations(rule: (from: string, to: string) => boolean): string[] {
  const found: string[] = [];
  for (const [from, { files }] of graph) for (const to of files) if (rule(from, to)) found.push(`${from} -> ${to}`);
  return found;
}

test('the graph was read: every production folder has files and imports', () => {
  for (const dir of PRODUCTION) assert.ok([...graph.keys()].some((f) => top(f) === dir), `no sources found in ${dir}/`);
  assert.ok([...graph.values()].reduce((n, i) => n + i.files.length, 0) > 200, 'suspiciously few imports: is the parser broken?');
});

test('api/, worker/ and cli/ never import each other; core/ imports none of them', () => {
  const doors = ['api', 'worker', 'cli'];
  assert.deepEqual(violations((from, to) => (doors.includes(top(from)) && doors.includes(top(to)) && top(from) !== top(to))
    || (top(from) === 'core' && doors.includes(top(to)))), []);
});

test('only worker/runtime/ imports dockerode', () => {
  const found = [...graph].filter(([f, i]) => i.packages.includes('dockerode') && !under(f, 'worker/runtime')).map(([f]) => f);
  assert.deepEqual(found, []);
});

test('outside worker/runtime/, nothing imports a runtime implementation (only the port, and the factory)', () => {
  const open = ['worker/runtime/runtime.ts', 'worker/runtime/create.ts'];
  const found = violations((from, to) => !under(from, 'worker/runtime') && under(to, 'worker/runtime') && !open.includes(to));
  assert.deepEqual(found, []);
});

test('only the worker\'s composition builds the runtime (worker/runtime/create.ts); jobs see the ports', () => {
  const composition = ['worker/build.ts'];
  assert.deepEqual(violations((from, to) => to === 'worker/runtime/create.ts' && !under(from, 'worker/runtime') && !composition.includes(from)), []);
});

test('the store never imports the application layer, and the domain imports only the domain', () => {
  assert.deepEqual(violations((from, to) => under(from, 'core/store') && under(to, 'core/app')), []);
  assert.deepEqual(violations((from, to) => under(from, 'core/domain') && !under(to, 'core/domain')), []);
  const impure = [...graph].filter(([f, i]) => under(f, 'core/domain') && i.packages.length).map(([f, i]) => `${f}: ${i.packages.join(', ')}`);
  assert.deepEqual(impure, [], 'the domain is pure (no packages)');
});

test('the production code has no import cycles', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const to of graph.get(f)?.files ?? []) {
      if (state.get(to) === 'open') cycles.push([...stack.slice(stack.indexOf(to)), to].join(' -> '));
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
