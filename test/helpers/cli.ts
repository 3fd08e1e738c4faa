/** Runs the `mayfly` CLI as a child process (bin/mayfly.js), as a pipeline or a person would. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SHIM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/mayfly.js');

/** `mayfly <args>` with only `env`'s MAYFLY_URL and MAYFLY_TOKEN (never the caller's); its exit code, stdout and stderr. */
export function mayfly(args: string[], env: Record<string, string>, timeoutMs = 180_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const { MAYFLY_URL: _u, MAYFLY_TOKEN: _t, ...rest } = process.env;
    execFile(process.execPath, [SHIM, ...args], { env: { ...rest, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
