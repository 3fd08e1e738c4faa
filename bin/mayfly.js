#!/usr/bin/env node
// The `mayfly` command: runs the compiled CLI (npm run build) when present, else the TypeScript
// source through tsx (a dependency of Mayfly).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// The CLI needs Node 20 (global fetch, AbortSignal.timeout); the web and worker need 22 or 24.
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`mayfly: the CLI needs Node.js 20 or newer (it uses the global fetch and AbortSignal.timeout); this is Node.js ${process.versions.node}\n`);
  process.exit(4);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'cli', 'main.js');
let main;
if (existsSync(compiled)) {
  main = await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  main = await import(pathToFileURL(path.join(root, 'cli', 'main.ts')).href);
}
const code = await main.run(process.argv.slice(2), process.env, {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
});
process.exitCode = code;
