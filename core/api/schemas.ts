/**
 * The shapes of REST v1, declared once with zod: what a request may carry (with the message each
 * field gets when it is wrong) and what each answer holds. core/api/routes.ts binds them to
 * routes; from there come both the validation the doors run (core/api/validate.ts,
 * core/doors/requests.ts) and the OpenAPI 3.1 document (core/api/openapi.ts). A check that needs
 * the server's state (is this template known, is this dataset allowed) is added on top of these
 * shapes where the state is at hand; the shape itself is never declared twice.
 */
import { z } from 'zod';
import { ACCESS_LEVELS, DESTROY_REASONS, DOORS, NAME_PATTERN, STATUSES } from '../domain/environment.js';
import { VIAS } from '../domain/principal.js';
import { parseDuration } from '../domain/duration.js';
import { digestProblem, isValidTag, parseImageRef, TAG_PATTERN } from '../domain/image-ref.js';
import { MAX_LOG_TAIL } from '../platform/internal-api.js';
import { literalHostProblem, type CallbackAllowList } from '../doors/outbound-guard.js';

export { NAME_PATTERN } from '../domain/environment.js';
/** The longest a request may hold its answer (?wait=), in seconds. */
export const MAX_WAIT_SECONDS = 900;

/** A value as an error message quotes it: JSON, cut at 40 characters. */
export function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}...` : JSON.stringify(text);
}

// ---------------------------------------------------------------------------------------------
// Requests: bodies
// ---------------------------------------------------------------------------------------------

const nameMessage = (input: unknown) => `${show(input)} must be 1-63 lowercase letters, digits and "-", starting with a letter or digit`;
const tagMessage = (input: unknown) => `${show(input)} is not an image tag (letters, digits, "_", "." and "-", up to 128, not starting with "." or "-")`;
const durationMessage = (input: unknown) => `${show(input)} is not a duration such as "30s", "45m" or "4h"`;

/** An environment's name in a body (the message quotes the value). */
export const EnvironmentName = z.string({ error: (iss) => nameMessage(iss.input) })
  .regex(NAME_PATTERN, { error: (iss) => nameMessage(iss.input) });

/** A template's name: which ones exist is the catalog's to say (GET /api/v1/templates). */
export const TemplateName = z.string({ error: 'is required: the name of a template (GET /api/v1/templates)' })
  .min(1, { error: 'is required: the name of a template (GET /api/v1/templates)' });

export const ImageTag = z.string({ error: (iss) => tagMessage(iss.input) })
  .regex(TAG_PATTERN, { error: (iss) => tagMessage(iss.input) })
  .meta({ description: 'tag of every taggable image' });

/** Why a per-service image value is neither a tag nor a valid reference (undefined when it is one). */
export function imageValueProblem(value: string): string | undefined {
  const isRef = /[/:@]/.test(value);
  if (isRef && !parseImageRef(value) && digestProblem(value)) return `${show(value)} is not a valid image reference: ${digestProblem(value)}`;
  if (isRef ? !parseImageRef(value) : !isValidTag(value)) return `${show(value)} is neither an image tag nor a valid image reference`;
  return undefined;
}

export const ImageValue = z.string({ error: 'must be a tag or an image reference string' }).check((ctx) => {
  const problem = imageValueProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
});

/** A dataset's name (seed-data/ or one saved from an environment). */
export const DatasetName = z.string({ error: (iss) => `${show(iss.input)} is not a dataset name` })
  .regex(NAME_PATTERN, { error: (iss) => `${show(iss.input)} is not a dataset name` });

/** A duration as users type it ("30s", "45m", "4h", "1h30m"), or whole seconds. */
const notDuration = { error: (iss: { input?: unknown }) => durationMessage(iss.input) };
export const Duration = z.union([
  z.string(notDuration).meta({ examples: ['30m', '4h', '1h30m'] }),
  z.number(notDuration).int(notDuration).positive(notDuration).meta({ description: 'seconds' }),
], notDuration)
  .refine((v) => parseDuration(v) !== undefined, notDuration);

/** Why a callbackUrl is refused, or undefined when it is a usable http(s) URL. */
export function callbackUrlProblem(value: unknown, allow?: CallbackAllowList): string | undefined {
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
  // With the allow-list (MAYFLY_CALLBACK_ALLOW): an address literal or a localhost name must be allowed.
  if (allow) return literalHostProblem(allow, url.hostname);
  return undefined;
}

export const CallbackUrl = z.string({ error: 'must be an http or https URL string' })
  .min(1, { error: 'must be an http or https URL string' })
  .max(2048, { error: 'must be at most 2048 characters' })
  .check((ctx) => {
    const problem = callbackUrlProblem(ctx.value);
    if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
  })
  .meta({ format: 'uri', description: 'where signed events (ready, failed, expiring, destroyed) are POSTed' });

/**
 * The checks an environment request gets beyond its shape, from the server's state: the
 * catalog's templates and, for the template asked for, its services, datasets and lease maximum.
 */
export interface EnvironmentRequestContext {
  templates: { names: string[] };
  /** The requested template, when it is one. */
  template?: { name: string; services: string[]; seeds: string[]; ttlMaxSeconds: number };
  /** Why an image reference is refused (a registry not allowed...), or undefined. */
  imageProblem(ref: string): string | undefined;
}

/**
 * The body of POST /environments and PUT /environments/{name}. Without a context: the shape
 * (what the document states); with one: the shape plus the catalog's checks, each field still
 * getting one message, the first that applies.
 */
export function environmentRequestSchema(ctx?: EnvironmentRequestContext) {
  const t = ctx?.template;
  const template = ctx
    ? TemplateName.refine((v) => ctx.templates.names.includes(v), { error: (iss) => `${show(iss.input)} is not a template; available: ${ctx.templates.names.join(', ')}` })
    : TemplateName;
  const service = t
    ? z.string().refine((s) => t.services.includes(s), { error: (iss) => `template "${t.name}" has no service ${show(iss.input)}; services: ${t.services.join(', ')}` })
    : z.string();
  const image = ctx
    ? ImageValue.check((c) => {
      const problem = /[/:@]/.test(c.value) ? ctx.imageProblem(c.value) : undefined;
      if (problem) c.issues.push({ code: 'custom', input: c.value, message: problem });
    })
    : ImageValue;
  const seed = t
    ? DatasetName.refine((s) => t.seeds.includes(s), { error: `template "${t.name}" accepts the datasets: ${t.seeds.join(', ') || 'none'} (or one saved from its environments)` })
    : DatasetName;
  const ttl = t
    ? Duration.refine((v) => parseDuration(v)! <= t.ttlMaxSeconds, { error: (iss) => `${show(iss.input)} is longer than the template's maximum of ${t.ttlMaxSeconds} s` })
    : Duration;
  return z.strictObject({
    template: template.meta({ description: 'the name of a template (GET /templates)' }),
    name: EnvironmentName.optional().meta({ description: 'generated from the template when absent; must equal the path\'s for PUT' }),
    tag: ImageTag.optional(),
    images: z.record(service, image, { error: 'must be an object mapping a service to a tag or an image reference' }).optional()
      .meta({ description: 'service -> tag or whole image reference' }),
    seed: seed.nullable().optional().meta({ description: 'a dataset the template allows, or one saved from its environments; null: the template\'s default' }),
    ttl: ttl.optional().meta({ description: 'the lease, within the template\'s maximum (default: the template\'s)' }),
    callbackUrl: CallbackUrl.nullable().optional(),
    access: z.enum(ACCESS_LEVELS, { error: (iss) => `${show(iss.input)} is not an access setting; one of: ${ACCESS_LEVELS.join(', ')} (who may open the environment's address)` })
      .nullable().optional().meta({ description: 'who may open its address (default: the template\'s access, else signed-in)' }),
  }, { error: 'must be a JSON object' });
}
export const EnvironmentRequest = environmentRequestSchema().meta({ id: 'EnvironmentRequest' });
export type EnvironmentRequestBody = z.output<typeof EnvironmentRequest>;

/**
 * POST /environments/{name}/extend. The ttl is checked by the application layer (after the
 * ownership check, against the template's maximum); the route checks the body's fields.
 */
export const ExtendRequest = z.strictObject({
  ttl: Duration.meta({ description: 'the new lease, from now' }),
}, { error: 'must be a JSON object' }).meta({ id: 'ExtendRequest' });

export const SnapshotRequest = z.strictObject({
  name: z.string({ error: 'is required: the new dataset name, 1-63 lowercase letters, digits and "-"' })
    .regex(NAME_PATTERN, { error: 'is required: the new dataset name, 1-63 lowercase letters, digits and "-"' })
    .meta({ description: 'the new dataset\'s name (not one in seed-data/ or saved before)' }),
}, { error: 'must be a JSON object' }).meta({ id: 'SnapshotRequest' });

export const CheckpointRequest = z.strictObject({}, { error: 'must be a JSON object (no fields)' }).meta({ id: 'CheckpointRequest' });

export const RewindRequest = z.strictObject({
  checkpoint: z.string({ error: 'is required: a checkpoint id such as "cp-1a2b3c4d"' }).meta({ description: 'the checkpoint to bring back (GET .../checkpoints lists them)', examples: ['cp-1a2b3c4d'] }),
}, { error: 'must be a JSON object' }).meta({ id: 'RewindRequest' });

export const CapsuleRequest = z.strictObject({
  name: z.string().regex(NAME_PATTERN, { error: 'must be 1-63 lowercase letters, digits and "-"' }).optional()
    .meta({ description: 'a name for the bug report (default: the capsule id)', examples: ['checkout-500'] }),
  note: z.string().max(2000).optional().meta({ description: 'what went wrong (free text, at most 2000 characters)' }),
}, { error: 'must be a JSON object' }).meta({ id: 'CapsuleRequest' });

/** PUT/POST /environments with `capsule`: a new environment brought up from a bug capsule. */
export const CapsuleRestoreRequest = z.strictObject({
  name: z.string().optional().meta({ description: 'POST only: the new environment\'s name (PUT takes it from the path)' }),
  capsule: z.string({ error: 'is required: a bug capsule id such as "cap-1a2b3c4d"' }).meta({ description: 'the bug capsule to bring up (its template, seed, image digests and data)', examples: ['cap-1a2b3c4d'] }),
  ttl: Duration.optional().meta({ description: 'the lease (default: the template\'s)' }),
  access: z.enum(['public', 'signed-in', 'team']).optional(),
}, { error: 'must be a JSON object' }).meta({ id: 'CapsuleRestoreRequest' });

/** The body of PUT /environments/{name} and POST /environments: a deploy, or a restore of a bug capsule. */
export const DeployRequest = z.union([EnvironmentRequest, CapsuleRestoreRequest]).meta({ id: 'DeployRequest' });

export const ForkRequest = z.strictObject({
  for: z.string({ error: 'is required: who the fork is for, e.g. "alice"' }).meta({ description: 'who the fork is for: the fork is named <name>--<for>', examples: ['alice'] }),
}, { error: 'must be a JSON object' }).meta({ id: 'ForkRequest' });

// ---------------------------------------------------------------------------------------------
// Requests: path and query parameters (each with the message its field gets)
// ---------------------------------------------------------------------------------------------

export const PathEnvironmentName = z.string()
  .regex(NAME_PATTERN, { error: 'must be 1-63 lowercase letters, digits and "-", starting with a letter or digit' })
  .meta({ description: 'environment name' });
export const PathDatasetName = z.string()
  .regex(NAME_PATTERN, { error: 'must be 1-63 lowercase letters, digits and "-"' })
  .meta({ description: 'dataset name' });

export const WaitQuery = z.string()
  .refine((v) => { const s = parseDuration(v); return s !== undefined && s <= MAX_WAIT_SECONDS; },
    { error: `must be a number of seconds (or a duration) up to ${MAX_WAIT_SECONDS}` })
  .meta({
    examples: ['60', '5m'],
    description: `hold the answer until the environment is ready, failed or destroyed, at most this long (seconds or a duration, up to ${MAX_WAIT_SECONDS} s)`,
  });
export const QueueQuery = z.enum(['true', 'false'], { error: 'must be true (wait in line, the default) or false (429 when no capacity now)' })
  .meta({ description: 'false: answer 429 CAPACITY_EXCEEDED instead of waiting in line when an admission limit is reached (as Prefer: no-queue)' });
export const StatusQuery = z.string()
  .refine((v) => v.split(',').every((s) => (STATUSES as readonly string[]).includes(s)), { error: `must be one or more of ${STATUSES.join(', ')}` })
  .meta({ description: `comma-separated: ${STATUSES.join(', ')}` });
/** Number() as the route reads it: "100", "0x10" and "1e2" are numbers of lines. */
export const TailQuery = z.coerce.number({ error: `must be a number of lines from 0 to ${MAX_LOG_TAIL}` })
  .int({ error: `must be a number of lines from 0 to ${MAX_LOG_TAIL}` })
  .min(0, { error: `must be a number of lines from 0 to ${MAX_LOG_TAIL}` })
  .max(MAX_LOG_TAIL, { error: `must be a number of lines from 0 to ${MAX_LOG_TAIL}` })
  .meta({ default: 100, description: 'lines from the end of each log' });

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

const DateTime = z.iso.datetime();
const Url = z.string().meta({ format: 'uri' });
const StringMap = z.record(z.string(), z.string());

export const Environment = z.strictObject({
  id: z.uuid(),
  name: z.string(),
  template: z.string(),
  status: z.enum(STATUSES),
  owner: z.string().meta({ description: 'the token\'s name, slack:<user> or github:<login>' }),
  team: z.string().meta({ description: 'the team of the principal that created it (MAYFLY_TEAMS; "default" for none)' }),
  door: z.enum(DOORS),
  images: StringMap.meta({ description: 'service -> image reference' }),
  digests: StringMap.meta({ description: 'service -> digest pulled' }),
  seed: z.string().nullable(),
  ttl: z.string().meta({ examples: ['4h'] }),
  expiresAt: DateTime,
  expiresInSeconds: z.number().int().min(0),
  generation: z.number().int(),
  url: Url.nullable().meta({ description: 'the entry service\'s URL while ready' }),
  urls: z.record(z.string(), Url),
  database: z.strictObject({
    seed: z.string(),
    snapshot: z.string().nullable(),
    strategy: z.string().nullable(),
    seededAt: DateTime.nullable(),
  }).nullable(),
  node: z.string().nullable().meta({ description: 'the swarm node its database is placed on (MAYFLY_RUNTIME=swarm); null on one host' }),
  queuePosition: z.number().int().nullable().meta({ description: 'its place in line while it waits for capacity (queued)' }),
  estimatedStartSeconds: z.number().nullable(),
  queueReason: z.string().nullable(),
  failure: z.strictObject({ code: z.string(), message: z.string() }).nullable(),
  destroyReason: z.enum(DESTROY_REASONS).nullable(),
  destroyedBy: z.string().nullable(),
  access: z.enum(ACCESS_LEVELS).meta({ description: 'who may open its address through the router: its own setting, else its template\'s' }),
  createdAt: DateTime,
  readyAt: DateTime.nullable(),
  destroyedAt: DateTime.nullable(),
  forkOf: z.strictObject({
    id: z.uuid(),
    name: z.string().meta({ description: 'the parent environment\'s name' }),
    depth: z.number().int().min(1).meta({ description: '1: a fork of an environment that is not a fork' }),
  }).nullable().meta({ description: 'the environment this one was forked from (it goes when that one goes), or null' }),
  links: z.strictObject({ self: Url, events: Url }),
}).meta({ id: 'Environment' });

export const DeployAnswer = Environment.extend({
  action: z.enum(['created', 'redeployed', 'unchanged']),
  delivery: z.enum(['queued', 'deferred'])
    .meta({ description: 'deferred: recorded while the job queue (Redis) did not answer; the reconciler queues it when Redis is back' }),
}).meta({ id: 'DeployAnswer' });

export const EnvironmentList = z.strictObject({ environments: z.array(Environment) }).meta({ id: 'EnvironmentList' });

export const Event = z.strictObject({
  id: z.number().int(),
  at: DateTime,
  type: z.string(),
  status: z.enum(STATUSES).nullable(),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).nullable(),
}).meta({ id: 'Event' });

export const EventList = z.strictObject({ environment: z.string(), id: z.uuid(), events: z.array(Event) }).meta({ id: 'EventList' });

export const ShareRequest = z.strictObject({
  ttl: Duration.optional().meta({ description: 'how long the link works (default 24h, at most 7d)', examples: ['24h'] }),
}, { error: 'must be a JSON object' }).meta({ id: 'ShareRequest' });
export const ShareAnswer = z.strictObject({
  environment: z.string(),
  url: Url.meta({ description: 'opens this one environment without an account until it expires' }),
  expiresAt: DateTime,
}).meta({ id: 'ShareAnswer' });

export const SnapshotAnswer = z.strictObject({
  dataset: z.string(),
  template: z.string(),
  source: z.string().meta({ description: 'the environment saved' }),
  status: z.literal('saving'),
  links: z.strictObject({ seeds: Url }),
}).meta({ id: 'SnapshotAnswer' });

export const Checkpoint = z.strictObject({
  id: z.string().meta({ examples: ['cp-1a2b3c4d'] }),
  environment: z.string(),
  reason: z.enum(['manual', 'before-redeploy', 'before-reset', 'before-rewind']),
  status: z.enum(['pending', 'ready', 'failed', 'removed']).meta({ description: 'pending until the worker took it' }),
  generation: z.number().int(),
  sizeBytes: z.number().int().nullable(),
  pauseMs: z.number().int().nullable().meta({ description: 'how long the database was paused for the copy' }),
  error: z.string().nullable(),
  createdBy: z.string(),
  createdAt: DateTime,
  readyAt: DateTime.nullable(),
}).meta({ id: 'Checkpoint' });
export const CheckpointList = z.strictObject({
  environment: z.string(),
  limit: z.number().int().meta({ description: 'checkpoints kept (MAYFLY_CHECKPOINTS_PER_ENV): the oldest go first' }),
  checkpoints: z.array(Checkpoint),
}).meta({ id: 'CheckpointList' });
export const CheckpointAnswer = Checkpoint.extend({
  delivery: z.enum(['queued', 'deferred']).meta({ description: 'deferred: recorded while Redis did not answer; taken before the next redeploy, reset or rewind' }),
}).meta({ id: 'CheckpointAnswer' });
const CapsuleRequestEntry = z.strictObject({
  method: z.string(), path: z.string().meta({ description: 'the path only: never its query string' }), status: z.number().int(), durationMs: z.number().int(), at: DateTime,
});
export const CapsuleSummary = z.strictObject({
  id: z.string().meta({ examples: ['cap-1a2b3c4d'] }),
  name: z.string(),
  note: z.string(),
  team: z.string(),
  environment: z.string().meta({ description: 'the environment it was taken of (it may be gone: a capsule outlives it)' }),
  template: z.string(),
  seed: z.string().nullable(),
  images: z.record(z.string(), z.string()),
  digests: z.record(z.string(), z.string()).meta({ description: 'what each service ran (repo@sha256:...): a restore runs these' }),
  status: z.enum(['pending', 'ready', 'failed', 'deleting']).meta({ description: 'pending until the worker took it' }),
  sizeBytes: z.number().int().nullable(),
  pauseMs: z.number().int().nullable().meta({ description: 'how long the database was paused for the copy' }),
  dumpBytes: z.number().int().nullable().meta({ description: 'the gzipped SQL dump in the archive (null: none, see dumpError)' }),
  dumpError: z.string().nullable(),
  error: z.string().nullable(),
  createdBy: z.string(),
  createdAt: DateTime,
  readyAt: DateTime.nullable(),
  links: z.strictObject({ self: Url, archive: Url }),
}).meta({ id: 'CapsuleSummary' });
export const Capsule = CapsuleSummary.extend({
  stack: z.string().nullable().meta({ description: 'the rendered stack (YAML; secret-looking environment values left out)' }),
  timeline: z.array(z.strictObject({ at: DateTime, type: z.string(), status: z.string().nullable(), message: z.string() })).nullable(),
  logs: z.record(z.string(), z.string()).nullable().meta({ description: 'the last 200 lines of each service\'s log' }),
  requests: z.array(CapsuleRequestEntry).meta({ description: 'the router\'s recent requests to the environment when the capsule was asked for (method, path, status, duration, time)' }),
}).meta({ id: 'Capsule' });
export const CapsuleList = z.strictObject({
  environment: z.string(),
  limit: z.number().int().meta({ description: 'capsules one team may hold (MAYFLY_CAPSULES_PER_TEAM; 0: no limit)' }),
  capsules: z.array(CapsuleSummary),
}).meta({ id: 'CapsuleList' });
export const CapsuleAnswer = Capsule.extend({
  delivery: z.enum(['queued', 'deferred']).meta({ description: 'deferred: recorded while Redis did not answer; it stays pending' }),
}).meta({ id: 'CapsuleAnswer' });
export const PathCapsuleId = z.string().regex(/^cap-[0-9a-f]{8}$/, { error: 'must be a bug capsule id such as "cap-1a2b3c4d"' }).meta({ id: 'PathCapsuleId' });

export const ForkList = z.strictObject({ environment: z.string(), forks: z.array(Environment) }).meta({ id: 'ForkList' });

export const Template = z.strictObject({
  name: z.string(),
  description: z.string(),
  entryService: z.string(),
  services: z.record(z.string(), z.strictObject({ image: z.string(), taggable: z.boolean() })),
  seeds: z.strictObject({ default: z.string().nullable(), allowed: z.array(z.string()) }),
  ttl: z.strictObject({ default: z.string(), max: z.string() }),
  sleep: z.strictObject({ after: z.string() }).nullable().meta({ description: 'stopped after this long without traffic; null: never' }),
  access: z.enum(ACCESS_LEVELS).meta({ description: 'who may open its environments\' addresses by default' }),
}).meta({ id: 'Template' });
export const TemplateList = z.strictObject({ templates: z.array(Template) }).meta({ id: 'TemplateList' });

export const GoldenSnapshot = z.strictObject({
  key: z.string(),
  template: z.string().nullable(),
  status: z.enum(['building', 'ready', 'failed', 'removed']),
  image: z.string(),
  imageDigest: z.string(),
  sizeBytes: z.number().int().nullable(),
  buildMs: z.number().int().nullable(),
  error: z.string().nullable(),
  createdAt: DateTime,
  readyAt: DateTime.nullable(),
}).meta({ id: 'GoldenSnapshot' });
export const Dataset = z.discriminatedUnion('kind', [
  z.strictObject({
    name: z.string(), kind: z.literal('dataset'), description: z.string(), files: z.array(z.string()), bytes: z.number().int(),
    templates: z.array(z.string()), snapshots: z.array(GoldenSnapshot),
  }),
  z.strictObject({
    name: z.string(), kind: z.literal('saved'), description: z.string(), templates: z.array(z.string()), snapshots: z.array(GoldenSnapshot),
    ...savedFields(),
    canDelete: z.boolean().meta({ description: 'whether the caller may delete it (its team or an admin)' }),
  }),
]).meta({ id: 'Dataset' });

/** What a saved dataset shows of its ownership (GET /seeds, DELETE /seeds/{name}). */
function savedFields() {
  return {
    status: z.enum(['building', 'ready', 'failed', 'deleting']).meta({ description: 'building: being saved; failed: see error; deleting: its volumes are being removed' }),
    owner: z.string().nullable().meta({ description: 'the principal that saved it' }),
    team: z.string().meta({ description: 'the owner\'s team: its members and admins may delete it, and it counts against the team\'s limits' }),
    sizeBytes: z.number().int().nullable().meta({ description: 'bytes of its copy once saved' }),
    source: z.strictObject({ environment: z.string().nullable(), template: z.string().nullable() }).meta({ description: 'the environment it was saved from' }),
    createdAt: DateTime,
    readyAt: DateTime.nullable(),
    error: z.string().nullable(),
    links: z.strictObject({ delete: Url }),
  };
}

export const SavedDatasetDeleted = z.strictObject({
  name: z.string(),
  ...savedFields(),
  status: z.literal('deleting'),
  volumes: z.array(z.string()).meta({ description: 'the volumes being removed' }),
  delivery: z.enum(['queued', 'deferred']).meta({ description: 'deferred when the job queue (Redis) did not answer; the reconciler removes the volumes' }),
}).meta({ id: 'SavedDatasetDeleted' });
export const SeedList = z.strictObject({
  strategy: z.looseObject({ updatedAt: DateTime }).nullable().meta({ description: 'the clone strategy the worker chose on this host (null before its first probe)' }),
  datasets: z.array(Dataset),
}).meta({ id: 'SeedList' });
export const RefreshAnswer = z.strictObject({ dataset: z.string(), status: z.literal('building'), links: z.strictObject({ seeds: Url }) }).meta({ id: 'RefreshAnswer' });

export const AuditEntry = z.strictObject({
  id: z.number().int(),
  at: DateTime,
  actor: z.string(),
  actorKind: z.enum(['token', 'user', 'system']),
  team: z.string(),
  door: z.enum(VIAS),
  action: z.string().meta({ description: 'e.g. environment.create, environment.destroy (core/app/authorization.ts)' }),
  outcome: z.enum(['allowed', 'denied', 'failed']),
  environment: z.string().nullable(),
  environmentId: z.uuid().nullable(),
  details: z.record(z.string(), z.unknown()).meta({ description: 'what the action was given (ttl, reason, images) and, when denied, why' }),
}).meta({ id: 'AuditEntry' });
export const AuditList = z.strictObject({ entries: z.array(AuditEntry) }).meta({ id: 'AuditList' });

/** The document itself (its own shape is OpenAPI's). */
export const OpenApiDocument = z.looseObject({ openapi: z.string() });

const FieldProblem = z.looseObject({ field: z.string(), message: z.string() });
export const ErrorAnswer = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.union([z.array(FieldProblem), z.record(z.string(), z.unknown())])
      .optional().meta({ description: 'for bad input: every offending field ({field, message}); for a conflict or refusal: what it was about' }),
  }),
}).meta({ id: 'Error' });
