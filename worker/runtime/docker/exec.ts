import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { demux } from './streams.js';

/** Runs a command in a container with `input` on its stdin; resolves with its exit code and output. */
export async function execInContainer(c: Docker.Container, cmd: string[], input?: Readable): Promise<{ exitCode: number; output: string }> {
  const exec = await c.exec({ Cmd: cmd, AttachStdin: !!input, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: !!input });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  if (input) {
    input.on('error', (err) => stream.destroy(err));
    input.pipe(stream);
  }
  await done;
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 100; i++) { await sleep(50); info = await exec.inspect(); }
  return { exitCode: info.ExitCode ?? -1, output: demux(Buffer.concat(chunks)) };
}
