/**
 * Generates cli/api-types.ts, the TypeScript types of REST v1, with openapi-typescript from the
 * OpenAPI document that api/openapi.ts describes (the one the web serves at /api/v1/openapi.json).
 *
 *   npm run api-types            rewrite cli/api-types.ts
 *   npm run api-types -- --check exit 1 when the committed file is not what the generator makes
 *
 * test/integration/openapi.test.ts runs the same check against the document as served.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { openApiDocument } from '../api/openapi.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const API_TYPES_FILE = path.join(ROOT, 'cli', 'api-types.ts');

/** What openapi-typescript (its own command line, as installed) makes of this document. */
export async function generateApiTypes(document: object): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mayfly-api-types-'));
  try {
    const input = path.join(dir, 'openapi.json');
    const output = path.join(dir, 'api-types.ts');
    await writeFile(input, JSON.stringify(document, null, 2));
    const bin = path.join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
    await promisify(execFile)(process.execPath, [bin, input, '--output', output], { cwd: ROOT });
    return await readFile(output, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const generated = await generateApiTypes(openApiDocument());
  if (process.argv.includes('--check')) {
    const committed = await readFile(API_TYPES_FILE, 'utf8').catch(() => '');
    if (committed !== generated) {
      process.stderr.write(`${path.relative(ROOT, API_TYPES_FILE)} is not what openapi-typescript makes from api/openapi.ts: run npm run api-types\n`);
      process.exitCode = 1;
    }
  } else {
    await writeFile(API_TYPES_FILE, generated);
    process.stderr.write(`wrote ${path.relative(ROOT, API_TYPES_FILE)}\n`);
  }
}
