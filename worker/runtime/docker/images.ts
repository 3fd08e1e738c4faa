import type Docker from 'dockerode';
import { MayflyError, PermanentFailure } from '../../../core/domain/errors.js';
import type { RegistryCredentials } from '../../../core/config/registry.js';
import { registryOf } from '../../../core/stack/policy.js';
import type { ProgressFn, PulledImage } from '../runtime.js';
import { dockerMessage, dockerStatus } from './errors.js';
import { PullProgress, type PullEvent } from './pull-progress.js';

/** Images on one Docker Engine: pulls (with the registry's credentials) and what an image is. */
export class Images {
  /** @param timeoutMs how long one pull may take in all (MAYFLY_PULL_TIMEOUT): a stuck registry fails it, never hangs it. */
  constructor(private readonly docker: Docker, private readonly credentials?: RegistryCredentials, private readonly timeoutMs = 600_000) {}

  /**
   * Pulls by reference, following the whole progress stream; rejects on any error in it, or when
   * it outlasts the timeout. Skipped when the image is already here at the digest the reference
   * names: a reference by digest that is present needs no registry at all; for a tag, the
   * registry's current digest (one manifest request, GET /distribution, at most 10 s) is compared
   * with the local image's, and a match is not pulled again (a pull of a present image costs a
   * manifest request plus the engine's pull machinery, about twice as long here). When that check
   * fails for any reason, it pulls as before.
   */
  async pull(image: string, onProgress?: ProgressFn): Promise<PulledImage> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      return await this.pullWithin(image, controller.signal, onProgress);
    } catch (err) {
      if (!controller.signal.aborted) throw err;
      throw new MayflyError('IMAGE_PULL_TIMEOUT', 504,
        `pulling ${image} did not finish within ${Math.round(this.timeoutMs / 1000)} s (MAYFLY_PULL_TIMEOUT): the registry is slow or stuck; check it, or raise the timeout for large images`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  private async pullWithin(image: string, signal: AbortSignal, onProgress?: ProgressFn): Promise<PulledImage> {
    // Credentials go only into this request's X-Registry-Auth header: never into logs, events or errors.
    const registry = registryOf(image);
    const authconfig = registry ? this.credentials?.authFor(registry) : undefined;
    // The check gives up after 10 s, or when the pull's own deadline passes, whichever is first.
    const gaveUp = new Promise<undefined>((r) => { setTimeout(() => r(undefined), 10_000).unref(); signal.addEventListener('abort', () => r(undefined), { once: true }); });
    const present = await Promise.race([this.presentAt(image, authconfig), gaveUp]);
    if (signal.aborted) throw new Error('pull aborted');
    if (present) {
      onProgress?.(`${image}: present at ${present.replace(/^.*@/, '')}, not pulled`, { image, step: 'pull-skipped' });
      return { image, digest: present };
    }
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.pull(image, { ...(authconfig ? { authconfig } : {}), abortSignal: signal });
    } catch (err) {
      throw pullError(image, err);
    }
    const progress = new PullProgress(image, onProgress);
    await new Promise<void>((resolve, reject) => {
      // Closing the stream ends the pull's HTTP request: the engine then stops the pull.
      const stop = () => { (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.(); reject(new Error('pull aborted')); };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
          progress.done();
          const streamError = err ?? output?.find((o) => o.error);
          if (streamError) {
            const message = err ? dockerMessage(err) : (streamError as { error: string }).error;
            reject(new PermanentFailure('IMAGE_PULL_FAILED', `pulling ${image} failed: ${message}`, { cause: err ?? undefined }));
          } else resolve();
        },
        (event: PullEvent) => progress.seen(event),
      );
    });
    const info = await this.docker.getImage(image).inspect();
    const repository = image.replace(/@.*$/, '').replace(/:[^:/]+$/, '');
    const digest = info.RepoDigests?.find((d) => d.startsWith(`${repository}@`)) ?? info.RepoDigests?.[0] ?? info.Id;
    return { image, digest };
  }

  /** The local repo digest of `image` when it is present at the digest its registry has now (or names), else undefined. */
  private async presentAt(image: string, authconfig: unknown): Promise<string | undefined> {
    const info = await this.docker.getImage(image).inspect().catch(() => undefined);
    if (!info?.RepoDigests?.length) return undefined;
    const repository = image.replace(/@.*$/, '').replace(/:[^:/]+$/, '');
    const pinned = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
    if (pinned) return info.RepoDigests.find((d) => d === `${repository}@${pinned}`);
    const remote = await this.docker.getImage(image).distribution(authconfig ? { authconfig } : {})
      .then((d: { Descriptor?: { digest?: string } }) => d.Descriptor?.digest, () => undefined);
    return remote ? info.RepoDigests.find((d) => d === `${repository}@${remote}`) : undefined;
  }

  /** The local image id of a reference (a tag re-pushed with new code is a new id); undefined when unknown. */
  id(image: string): Promise<string | undefined> {
    return this.docker.getImage(image).inspect().then((i) => i.Id, () => undefined);
  }
}

function pullError(image: string, err: unknown): Error {
  const status = dockerStatus(err);
  if (status === 404) return new PermanentFailure('IMAGE_NOT_FOUND', `image ${image} does not exist in its registry (${dockerMessage(err)})`, { cause: err });
  if (status === 401 || status === 403) return new PermanentFailure('IMAGE_UNAUTHORIZED', `the registry refused ${image}: ${dockerMessage(err)}`, { cause: err });
  // 400 from /images/create is the engine refusing the reference itself ("invalid reference
  // format", "invalid tag format", "invalid checksum digest length"): the same reference fails
  // the same way on every retry.
  if (status === 400) return new PermanentFailure('INVALID_IMAGE_REF', `the Docker engine refused ${image} as an image reference: ${dockerMessage(err)}`, { cause: err });
  // 500 from the engine covers unreachable registries: worth a retry, and if every attempt
  // fails the environment fails with the documented code, not a generic one.
  return new MayflyError('IMAGE_PULL_FAILED', 502, `pulling ${image} failed (is its registry up?): ${dockerMessage(err)}`, { cause: err });
}
