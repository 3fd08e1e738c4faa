/**
 * What the registry holds: the tags of an image repository (registry HTTP API v2,
 * `GET /v2/<repo>/tags/list`), newest first with their push time where the registry gives it
 * (the image config's `created`, read through the manifest). Used by the web form to offer tags
 * and by the tag check before queueing (core/app/image-check.ts). HTTP only: no Docker here.
 *
 * Cheap on purpose: a tag list is kept for `listTtlMs` (30 s), a tag's push time for
 * `createdTtlMs` (10 min), both in bounded maps; push times are read for at most `maxDated` tags
 * of a repository, a few requests at a time. Only repositories on the configured registry (or on
 * a registry we hold credentials for) are asked; any other image is "not checked".
 */
import type { RegistryCredentials } from '../config/registry.js';
import { parseImageRef } from '../domain/image-ref.js';

export interface RegistryTag {
  tag: string;
  /** When the image was built/pushed (its config's `created`), when the registry gives it. */
  created?: Date;
}

export type TagListing =
  | { checked: true; repository: string; tags: RegistryTag[] }
  /** The registry was not asked (another registry) or did not answer: `why` says which. */
  | { checked: false; repository: string; why: string };

export interface RegistryTagsOptions {
  /** host[:port] of the configured registry (config.registry). */
  registry: string;
  credentials?: RegistryCredentials;
  listTtlMs?: number;
  createdTtlMs?: number;
  /** How many tags of one repository get their push time looked up. */
  maxDated?: number;
  timeoutMs?: number;
  /** Repositories whose lists are kept at once. */
  maxRepositories?: number;
}

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** A map that forgets its oldest entry past `max`, and entries older than their ttl. */
class Expiring<V> {
  private readonly map = new Map<string, { at: number; value: V }>();
  constructor(private readonly ttlMs: number, private readonly max: number) {}
  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (Date.now() - e.at > this.ttlMs) { this.map.delete(key); return undefined; }
    return e.value;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, { at: Date.now(), value });
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
  delete(key: string): void { this.map.delete(key); }
}

class RegistryError extends Error {}

export class RegistryTags {
  private readonly lists: Expiring<Promise<TagListing>>;
  private readonly created: Expiring<Date | null>;
  private readonly opts: Required<Omit<RegistryTagsOptions, 'credentials'>> & { credentials?: RegistryCredentials };

  constructor(opts: RegistryTagsOptions) {
    this.opts = { listTtlMs: 30_000, createdTtlMs: 600_000, maxDated: 40, timeoutMs: 5000, maxRepositories: 64, ...opts };
    this.lists = new Expiring(this.opts.listTtlMs, this.opts.maxRepositories);
    this.created = new Expiring(this.opts.createdTtlMs, 4000);
  }

  /** Whether the tags of an image on `host` can be asked for. */
  covers(host: string): boolean {
    return host.toLowerCase() === this.opts.registry.toLowerCase() || !!this.opts.credentials?.authFor(host);
  }

  /**
   * The tags of the repository of `image` (a reference such as 127.0.0.1:5000/mayfly/shop:main),
   * newest first (those without a push time after, by name). `fresh`: ask the registry even when
   * a recent answer is kept (a tag pushed a moment ago).
   */
  async tagsOf(image: string, opts: { fresh?: boolean } = {}): Promise<TagListing> {
    const ref = parseImageRef(image);
    if (!ref) return { checked: false, repository: image, why: 'not an image reference' };
    const slash = ref.repository.indexOf('/');
    const host = slash > 0 ? ref.repository.slice(0, slash) : '';
    if (!host || !/[.:]|^localhost$/.test(host) || !this.covers(host)) {
      return { checked: false, repository: ref.repository, why: `${ref.repository} is not on the configured registry (${this.opts.registry})` };
    }
    const key = ref.repository;
    const kept = opts.fresh ? undefined : this.lists.get(key);
    if (kept) return kept;
    const listing = this.fetchListing(host, ref.repository.slice(slash + 1), ref.repository);
    this.lists.set(key, listing);
    // A registry that did not answer is asked again next time, not in 30 s.
    void listing.then((l) => { if (!l.checked) this.lists.delete(key); });
    return listing;
  }

  private async fetchListing(host: string, path: string, repository: string): Promise<TagListing> {
    const base = `${/^(localhost|127\.|\[::1\])/.test(host) ? 'http' : 'https'}://${host}`;
    let names: string[];
    try {
      const res = await this.get(base, host, path, `/v2/${path}/tags/list?n=1000`, 'application/json');
      if (res.status === 404) return { checked: true, repository, tags: [] };
      if (!res.ok) throw new RegistryError(`answered ${res.status}`);
      const body = await res.json() as { tags?: unknown };
      names = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
    } catch (err) {
      return { checked: false, repository, why: `the registry ${host} did not list the tags of ${repository}: ${(err as Error).message}` };
    }
    // Push times for a bounded number of tags (the registry lists them by name, so the first ones).
    const dated = names.slice(0, this.opts.maxDated);
    const times = new Map<string, Date | null>();
    let next = 0;
    const worker = async () => {
      while (next < dated.length) {
        const tag = dated[next++]!;
        times.set(tag, await this.createdOf(base, host, path, repository, tag));
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const tags: RegistryTag[] = names.map((tag) => { const c = times.get(tag); return c ? { tag, created: c } : { tag }; });
    tags.sort((a, b) => (b.created?.getTime() ?? -1) - (a.created?.getTime() ?? -1) || a.tag.localeCompare(b.tag));
    return { checked: true, repository, tags };
  }

  /** The image config's `created` of one tag (through an index to its first linux/amd64 image), or null. */
  private async createdOf(base: string, host: string, path: string, repository: string, tag: string): Promise<Date | null> {
    const key = `${repository}:${tag}`;
    const kept = this.created.get(key);
    if (kept !== undefined) return kept;
    let created: Date | null = null;
    try {
      let manifest = await (await this.get(base, host, path, `/v2/${path}/manifests/${encodeURIComponent(tag)}`, MANIFEST_TYPES)).json() as any;
      if (Array.isArray(manifest?.manifests)) {
        const pick = manifest.manifests.find((m: any) => m?.platform?.os === 'linux' && m?.platform?.architecture === 'amd64') ?? manifest.manifests[0];
        manifest = pick?.digest ? await (await this.get(base, host, path, `/v2/${path}/manifests/${pick.digest}`, MANIFEST_TYPES)).json() : undefined;
      }
      const digest = manifest?.config?.digest;
      if (typeof digest === 'string') {
        const config = await (await this.get(base, host, path, `/v2/${path}/blobs/${digest}`, 'application/json')).json() as { created?: unknown };
        const at = typeof config.created === 'string' ? new Date(config.created) : undefined;
        if (at && !Number.isNaN(at.getTime())) created = at;
      }
    } catch {
      created = null;
    }
    this.created.set(key, created);
    return created;
  }

  /** One GET, with Basic credentials when we hold some, and the registry's token flow on a Bearer challenge. */
  private async get(base: string, host: string, path: string, url: string, accept: string): Promise<Response> {
    const auth = this.opts.credentials?.authFor(host);
    const basic = auth ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` : undefined;
    const go = (authorization?: string) => fetch(`${base}${url}`, {
      headers: { accept, ...(authorization ? { authorization } : {}) }, redirect: 'follow', signal: AbortSignal.timeout(this.opts.timeoutMs),
    }).catch((err: Error & { cause?: { code?: string } }) => {
      throw new RegistryError(err.name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs} ms` : (err.cause?.code ?? err.message));
    });
    let res = await go(basic);
    const challenge = res.status === 401 ? res.headers.get('www-authenticate') ?? '' : '';
    if (challenge.toLowerCase().startsWith('bearer ')) {
      await res.body?.cancel();
      const params = Object.fromEntries([...challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      if (!params.realm) throw new RegistryError('asked for a token without a realm');
      const tokenUrl = new URL(params.realm);
      if (params.service) tokenUrl.searchParams.set('service', params.service);
      tokenUrl.searchParams.set('scope', params.scope ?? `repository:${path}:pull`);
      const tokenRes = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {}, signal: AbortSignal.timeout(this.opts.timeoutMs) });
      if (!tokenRes.ok) throw new RegistryError(`its token service answered ${tokenRes.status}`);
      const t = await tokenRes.json() as { token?: string; access_token?: string };
      res = await go(`Bearer ${t.token ?? t.access_token ?? ''}`);
    }
    if (res.status === 401 || res.status === 403) throw new RegistryError(`refused us (${res.status}); check MAYFLY_REGISTRY_AUTH_FILE or MAYFLY_REGISTRY_USERNAME`);
    return res;
  }
}
