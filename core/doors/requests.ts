import { parseDuration } from '../domain/duration.js';
import type { FieldProblem } from '../domain/errors.js';
import type { TemplateCatalog } from '../catalog/templates.js';
import type { Access } from '../domain/environment.js';
import { EnvironmentName, EnvironmentRequest as EnvironmentRequestShape, environmentRequestSchema, imageValueProblem, NAME_PATTERN, show, type EnvironmentRequestBody } from '../api/schemas.js';
import { checkBody, inputError, paramProblem } from '../api/validate.js';
import type { CallbackAllowList } from './outbound-guard.js';

export { callbackUrlProblem, NAME_PATTERN } from '../api/schemas.js';
import { callbackUrlProblem } from '../api/schemas.js';

/** What a create or PUT body may hold (core/api/schemas.ts declares it, with its messages). */
export type EnvironmentRequest = EnvironmentRequestBody;

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

/** The order fields are reported in: unknown fields, the name (path, then body), then the body's order. */
function rank(p: FieldProblem): number {
  if (!Object.hasOwn(EnvironmentRequestShape.shape, p.field.split('.')[0]!)) return 0;
  return p.field === 'name' ? 1 : 2;
}

/**
 * Validates a create or PUT body against EnvironmentRequest (core/api/schemas.ts) and the
 * catalog. Every problem is reported at once, each naming its field; nothing is stored unless
 * this returns. `savedSeeds` are datasets saved from environments of the requested template,
 * accepted besides the template's own. `opts.callbackAllow` (MAYFLY_CALLBACK_ALLOW) lets a
 * callbackUrl name a non-public address literal; without it such a URL is refused here (host
 * names are checked, resolved, at every call: core/doors/http-out.ts).
 */
export function validateEnvironmentRequest(body: unknown, catalog: TemplateCatalog, pathName?: string, savedSeeds: string[] = [], opts: { callbackAllow?: CallbackAllowList } = {}): ValidRequest {
  const asked = (body as { template?: unknown } | null)?.template;
  const meta = typeof asked === 'string' && catalog.has(asked) ? catalog.get(asked) : undefined;
  const schema = environmentRequestSchema({
    templates: { names: catalog.list().map((t) => t.name) },
    ...(meta ? { template: { name: meta.name, services: Object.keys(meta.images), seeds: [...meta.seeds.allowed, ...savedSeeds], ttlMaxSeconds: meta.ttl.maxSeconds } } : {}),
    imageProblem: (ref) => (imageValueProblem(ref) ? undefined : catalog.imageProblem(ref)),
  });
  const { value, problems: found } = checkBody(schema, body);
  const notObject = found.find((p) => p.field === '(body)');
  if (notObject) throw inputError([notObject]);

  const problems: FieldProblem[] = [];
  const pathProblem = pathName === undefined ? undefined : paramProblem(EnvironmentName, 'name', pathName);
  if (pathProblem) problems.push(pathProblem);
  problems.push(...found);
  const b = body as Record<string, unknown>;
  if (opts.callbackAllow && typeof b.callbackUrl === 'string' && !found.some((p) => p.field === 'callbackUrl')) {
    const refused = callbackUrlProblem(b.callbackUrl, opts.callbackAllow);
    if (refused) problems.push({ field: 'callbackUrl', message: refused });
  }
  if (pathName !== undefined && typeof b.name === 'string' && NAME_PATTERN.test(b.name) && b.name !== pathName) {
    problems.push({ field: 'name', message: `the body says ${show(b.name)} but the path says ${show(pathName)}` });
  }
  if (problems.length) throw inputError(problems.sort((x, y) => rank(x) - rank(y)));

  const v = value!;
  return {
    template: v.template,
    name: v.name ?? pathName,
    images: catalog.resolveImages(v.template, v.tag, v.images ?? {}),
    seed: v.seed ?? meta?.seeds.default ?? null,
    ttlSeconds: v.ttl !== undefined ? parseDuration(v.ttl)! : meta?.ttl.defaultSeconds ?? 0,
    ttlGiven: v.ttl !== undefined,
    ...(v.callbackUrl ? { callbackUrl: v.callbackUrl } : {}),
    ...(v.access ? { access: v.access } : {}),
  };
}
