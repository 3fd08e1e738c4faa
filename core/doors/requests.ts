import { parseDuration } from '../domain/duration.js';
import { InputError, type FieldProblem } from '../domain/errors.js';
import { digestProblem, isValidTag, parseImageRef } from '../domain/image-ref.js';
import type { TemplateCatalog } from '../catalog/templates.js';

/** Names of environments, datasets and templates. */
export { NAME_PATTERN } from '../domain/environment.js';
import { ACCESS_LEVELS, NAME_PATTERN, type Access } from '../domain/environment.js';

export interface EnvironmentRequest {
  template: string;
  name?: string;
  tag?: string;
  images?: Record<string, string>;
  seed?: string;
  ttl?: string | number;
  /** Where signed events (ready, failed, expiring, destroyed) are POSTed. */
  callbackUrl?: string;
  /** Who may open its address: public, signed-in or team (default: the template's). */
  access?: Access;
}

/** A request checked against its template: everything the store and the worker need. */
export interface ValidRequest {
  template: string;
  name: string | undefined;
  images: Record<string, string>;
  seed: string | null;
  ttlSeconds: number;
  /** Whether the caller gave a ttl (a redeploy only moves the lease when one is given). */
  ttlGiven: boolean;
  /** A checked http(s) URL for signed event callbacks, when given. */
  callbackUrl?: string;
  /** Who may open its address, when the request chose it (else the template's access). */
  access?: Access;
}

const FIELDS = new Set(['template', 'name', 'tag', 'images', 'seed', 'ttl', 'callbackUrl', 'access']);

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}...` : JSON.stringify(text);
}

/**
 * Validates a create or PUT body. Every problem is reported at once, each naming its field;
 * nothing is stored unless this returns. `savedSeeds` are datasets saved from environments of
 * the requested template, accepted besides the template's own.
 */
export function validateEnvironmentRequest(body: unknown, catalog: TemplateCatalog, pathName?: string, savedSeeds: string[] = []): ValidRequest {
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InputError('the request body must be a JSON object', [{ field: '(body)', message: 'must be a JSON object' }]);
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!FIELDS.has(key)) add(key, `unknown field; allowed: ${[...FIELDS].join(', ')}`);

  if (pathName !== undefined && !NAME_PATTERN.test(pathName)) {
    add('name', `${show(pathName)} must be 1-63 lowercase letters, digits and "-", starting with a letter or digit`);
  }
  let name: string | undefined = pathName;
  if (b.name !== undefined) {
    if (typeof b.name !== 'string' || !NAME_PATTERN.test(b.name)) {
      add('name', `${show(b.name)} must be 1-63 lowercase letters, digits and "-", starting with a letter or digit`);
    } else if (pathName !== undefined && b.name !== pathName) {
      add('name', `the body says ${show(b.name)} but the path says ${show(pathName)}`);
    } else {
      name = b.name;
    }
  }

  let template: string | undefined;
  if (typeof b.template !== 'string' || b.template === '') add('template', 'is required: the name of a template (GET /api/v1/templates)');
  else if (!catalog.has(b.template)) add('template', `${show(b.template)} is not a template; available: ${catalog.list().map((t) => t.name).join(', ')}`);
  else template = b.template;
  const meta = template ? catalog.get(template) : undefined;

  if (b.tag !== undefined && !isValidTag(b.tag)) {
    add('tag', `${show(b.tag)} is not an image tag (letters, digits, "_", "." and "-", up to 128, not starting with "." or "-")`);
  }
  const images: Record<string, string> = {};
  if (b.images !== undefined) {
    if (typeof b.images !== 'object' || b.images === null || Array.isArray(b.images)) {
      add('images', 'must be an object mapping a service to a tag or an image reference');
    } else {
      for (const [svc, value] of Object.entries(b.images as Record<string, unknown>)) {
        const field = `images.${svc}`;
        if (meta && !meta.images[svc]) add(field, `template "${meta.name}" has no service ${show(svc)}; services: ${Object.keys(meta.images).join(', ')}`);
        else if (typeof value !== 'string') add(field, 'must be a tag or an image reference string');
        else if (/[/:@]/.test(value) && !parseImageRef(value) && digestProblem(value)) add(field, `${show(value)} is not a valid image reference: ${digestProblem(value)}`);
        else if (/[/:@]/.test(value) ? !parseImageRef(value) : !isValidTag(value)) add(field, `${show(value)} is neither an image tag nor a valid image reference`);
        else if (/[/:@]/.test(value) && catalog.imageProblem(value)) add(field, catalog.imageProblem(value)!);
        else images[svc] = value;
      }
    }
  }

  let seed: string | null = meta?.seeds.default ?? null;
  if (b.seed !== undefined && b.seed !== null) {
    if (typeof b.seed !== 'string' || !NAME_PATTERN.test(b.seed)) add('seed', `${show(b.seed)} is not a dataset name`);
    else if (meta && !meta.seeds.allowed.includes(b.seed) && !savedSeeds.includes(b.seed)) add('seed', `template "${meta.name}" accepts the datasets: ${[...meta.seeds.allowed, ...savedSeeds].join(', ') || 'none'} (or one saved from its environments)`);
    else seed = b.seed;
  }

  let ttlSeconds = meta?.ttl.defaultSeconds ?? 0;
  if (b.ttl !== undefined) {
    const s = parseDuration(b.ttl);
    if (s === undefined) add('ttl', `${show(b.ttl)} is not a duration such as "30s", "45m" or "4h"`);
    else if (meta && s > meta.ttl.maxSeconds) add('ttl', `${show(b.ttl)} is longer than the template's maximum of ${meta.ttl.maxSeconds} s`);
    else ttlSeconds = s;
  }

  let callbackUrl: string | undefined;
  if (b.callbackUrl !== undefined && b.callbackUrl !== null) {
    const problem = callbackUrlProblem(b.callbackUrl);
    if (problem) add('callbackUrl', problem);
    else callbackUrl = b.callbackUrl as string;
  }

  let access: Access | undefined;
  if (b.access !== undefined && b.access !== null) {
    if (typeof b.access !== 'string' || !(ACCESS_LEVELS as readonly string[]).includes(b.access)) {
      add('access', `${show(b.access)} is not an access setting; one of: ${ACCESS_LEVELS.join(', ')} (who may open the environment's address)`);
    } else access = b.access as Access;
  }

  if (problems.length) {
    throw new InputError(`invalid request: ${problems.map((p) => p.field).join(', ')}`, problems);
  }
  return {
    template: template!,
    name,
    images: catalog.resolveImages(template!, b.tag as string | undefined, images),
    seed,
    ttlSeconds,
    ttlGiven: b.ttl !== undefined,
    ...(callbackUrl ? { callbackUrl } : {}),
    ...(access ? { access } : {}),
  };
}

/** Why a callbackUrl is refused, or undefined when it is a usable http(s) URL. */
export function callbackUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'must be an http or https URL string';
  if (value.length > 2048) return 'must be at most 2048 characters';
  // The URL parser would silently drop tabs and newlines: refuse them rather than call another URL.
  if (/[\s\u0000-\u001f\u007f]/.test(value)) return 'must not contain whitespace or control characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${show(value)} is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https, not ${url.protocol.replace(':', '')}`;
  if (url.username || url.password) return 'must not carry credentials; callbacks are signed with MAYFLY_CALLBACK_SECRET instead';
  return undefined;
}
