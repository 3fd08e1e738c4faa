#!/usr/bin/env node
// The `mayfly` command: runs the compiled CLI (npm run build) when present, else the TypeScript
// source through tsx (a dependency of Mayfly).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

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
