/**
 * The configuration reference (the table in docs/configuration.md) and the code agree, both ways:
 * every environment variable the config loader (core/config) or the `mayfly` CLI (cli/) reads is
 * in the table, and every variable in the table is read. The reads are recorded by handing
 * loadConfig and the CLI an environment wrapped in a Proxy, and completed by a scan of the
 * loader's source (a variable read only on some branch). No other production code reads a
 * variable of its own: the processes get everything from the one frozen Config.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, projectRoot } from '../../core/config/config.js';
import { run } from '../../cli/main.js';

const root = projectRoot();
const VARIABLE = /^[A-Z][A-Z0-9_]*$/;

/** An empty environment that records the name of every variable read from it. */
function recordingEnv(): { env: NodeJS.ProcessEnv; read: Set<string> } {
  const read = new Set<string>();
  const note = (key: string | symbol) => { if (typeof key === 'string' && VARIABLE.test(key)) read.add(key); };
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(target, key) { note(key); return Reflect.get(target, key); },
    has(target, key) { note(key); return Reflect.has(target, key); },
    getOwnPropertyDescriptor(target, key) { note(key); return Reflect.getOwnPropertyDescriptor(target, key); },
  });
  return { env, read };
}

function sources(dir: string, recursive = true): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

/** Variables named in source: `env.X`, `env['X']`, and a first argument 'X' (int('X', ...), ConfigError('X', ...)). */
function namedIn(files: string[]): Set<string> {
  const names = new Set<string>();
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]+)\b|\[\s*'([A-Z][A-Z0-9_]+)'\s*\])|\(\s*'([A-Z][A-Z0-9_]{2,})'\s*,/g)) {
      names.add((m[1] ?? m[2] ?? m[3])!);
    }
  }
  return names;
}

interface Row { names: string[]; usedBy: string }

/** The rows of the table under "## Every variable" in docs/configuration.md. */
function documentedRows(): Row[] {
  const doc = readFileSync(path.join(root, 'docs', 'configuration.md'), 'utf8');
  const start = doc.indexOf('\n## Every variable');
  assert.ok(start >= 0, 'docs/configuration.md has a "## Every variable" section');
  const section = doc.slice(start + 1).split(/\n## /)[0]!;
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  assert.match(lines[0] ?? '', /^\| *variable *\| *default *\| *meaning *\| *used by *\|$/, 'the table has the columns variable, default, meaning, used by');
  return lines.slice(2).map((line) => {
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    assert.equal(cells.length, 4, `a row with four cells: ${line.slice(0, 80)}`);
    const names = [...cells[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    assert.ok(names.length > 0 && names.every((n) => VARIABLE.test(n)), `the first cell names variables in backticks: ${cells[0]}`);
    assert.match(cells[3]!, /^(web|worker|web, worker|`mayfly` CLI)$/, `"used by" of ${names.join(', ')} is web, worker, "web, worker" or \`mayfly\` CLI`);
    return { names, usedBy: cells[3]! };
  });
}

function loaderReads(): Set<string> {
  const { env, read } = recordingEnv();
  loadConfig(env);
  return new Set([...read, ...namedIn(sources('core/config'))]);
}

async function cliReads(): Promise<Set<string>> {
  const { env, read } = recordingEnv();
  const said: string[] = [];
  // Without MAYFLY_URL the CLI stops before any request (exit 4), having read what it needs.
  const code = await run(['ls'], env, { out: (s) => said.push(s), err: (s) => said.push(s) });
  assert.equal(code, 4, `the CLI without its variables exits 4: ${said.join(' / ')}`);
  return new Set([...read, ...namedIn(sources('cli'))]);
}

const difference = (a: Iterable<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();

describe('the configuration reference (docs/configuration.md)', () => {
  it('when the loader and the CLI read the environment, then the reads are recorded', async () => {
    const loader = loaderReads();
    assert.ok(loader.size > 60, `the loader's reads were recorded (${loader.size})`);
    for (const name of ['DATABASE_URL', 'MAYFLY_API_TOKENS', 'MAYFLY_DOMAIN', 'MAYFLY_SESSION_SECRET', 'LOG_FORMAT']) assert.ok(loader.has(name), name);
    assert.deepEqual([...(await cliReads())].sort(), ['MAYFLY_TOKEN', 'MAYFLY_URL']);
  });

  it('when a variable is read by the config loader or the CLI, then the table documents it, and the other way round', async () => {
    const rows = documentedRows();
    const documented = new Set(rows.flatMap((r) => r.names));
    const read = new Set([...loaderReads(), ...(await cliReads())]);
    assert.deepEqual(difference(read, documented), [], 'read, but not in the table of docs/configuration.md');
    assert.deepEqual(difference(documented, read), [], 'in the table of docs/configuration.md, but read by nothing');
    const names = rows.flatMap((r) => r.names);
    assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], 'each variable in one row');
  });

  it('when the table says a variable is the CLI\'s, then the CLI reads it and the processes do not', async () => {
    const cliRows = new Set(documentedRows().filter((r) => r.usedBy.includes('CLI')).flatMap((r) => r.names));
    assert.deepEqual([...cliRows].sort(), [...(await cliReads())].sort());
    assert.deepEqual([...cliRows].filter((n) => loaderReads().has(n)), []);
  });

  it('when production code reads a variable, then it is through the config loader (or the CLI\'s own two)', () => {
    const files = [...['api', 'worker', 'core', 'cli'].flatMap((d) => sources(d)), ...sources('scripts', false)];
    const found: string[] = [];
    for (const file of files) {
      if (file.startsWith(`core${path.sep}config${path.sep}`)) continue;
      const text = readFileSync(path.join(root, file), 'utf8');
      // Passing process.env whole (to loadConfig, to the CLI's run) is fine; reading one variable is not.
      for (const m of text.matchAll(/process\.env\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['"]?([^\]'"]+))/g)) found.push(`${file}: ${m[1] ?? m[2]}`);
    }
    assert.deepEqual(found, [], 'read process.env in core/config (the typed, frozen Config) instead');
  });
});
