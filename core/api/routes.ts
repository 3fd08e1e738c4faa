/**
 * REST v1, route by route: its parameters, body and every answer with its schema. The OpenAPI
 * document (core/api/openapi.ts) is made from this table, the doors validate with the same
 * schemas (core/api/schemas.ts), and in tests every answer is checked against the schema declared
 * here for its status (test/helpers/response-check.ts). A new route is one entry below; a route
 * served but not listed fails test/integration/openapi.test.ts.
 */
import { z } from 'zod';
import { VIAS } from '../domain/principal.js';
import {
  AuditList, DeployAnswer, Environment, EnvironmentList, EnvironmentRequest, ErrorAnswer, EventList, ExtendRequest, OpenApiDocument,
  PathDatasetName, PathEnvironmentName, QueueQuery, RefreshAnswer, SeedList, SnapshotAnswer, SnapshotRequest, StatusQuery,
  TailQuery, TemplateList, WaitQuery, ShareAnswer, ShareRequest, SavedDatasetDeleted,
  CheckpointAnswer, CheckpointList, CheckpointRequest, Capsule, CapsuleAnswer, CapsuleList, CapsuleRequest, CapsuleSummary, DeployRequest, PathCapsuleId, DeployAnswer as ForkAnswer, ForkList, ForkRequest, RewindRequest,
} from './schemas.js';

export type Method = 'get' | 'post' | 'put' | 'delete';

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: z.ZodType;
}

/** One answer: its description and, by media type, the schema of its body (none: no body). */
export interface Answer {
  description: string;
  content?: Record<string, z.ZodType>;
}

export interface Operation {
  method: Method;
  /** Relative to the server URL /api/v1, with OpenAPI's {param} syntax. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** false: served without the bearer token (and without the answers the token check adds). */
  auth?: boolean;
  parameters?: Parameter[];
  body?: z.ZodType;
  /** false: the body may be left out (default: required when there is one). */
  bodyRequired?: boolean;
  responses: Record<number, Answer>;
}

const json = (schema: z.ZodType, description: string): Answer => ({ description, content: { 'application/json': schema } });
const error = (description: string): Answer => json(ErrorAnswer, description);

/**
 * What every operation behind the bearer token may answer: the body parser and the token check
 * run before each route (api/app.ts), whatever its method, and any may find PostgreSQL down.
 * Routes add their own answers to these.
 */
export const COMMON: Record<number, Answer> = {
  400: error('INVALID_JSON: a body that is not valid JSON'),
  401: error('UNAUTHORIZED: no or invalid bearer token'),
  413: error('PAYLOAD_TOO_LARGE: a body over 64 kB'),
  415: error('UNSUPPORTED_ENCODING: a Content-Encoding or charset the server does not read'),
  429: error('TOO_MANY_FAILED_SIGN_INS: too many wrong tokens from this address; see Retry-After'),
  500: error('unexpected failure'),
  503: error('STORE_UNAVAILABLE: PostgreSQL did not answer; nothing was changed (see Retry-After)'),
};
const envErrors: Record<number, Answer> = {
  400: error('INVALID_REQUEST: invalid name or query (details names each field), or INVALID_JSON'),
  404: error('ENVIRONMENT_NOT_FOUND: no environment of that name'),
};
const forbidden = error('FORBIDDEN: the environment belongs to another team, and the token may not manage it');
/** Accepted means recorded in PostgreSQL: a Redis outage delays the work (delivery "deferred") but is never an error answer. */
const storeDown = error('STORE_UNAVAILABLE: PostgreSQL, where requests are recorded, did not answer; nothing was recorded or changed (see Retry-After)');
const deployErrors: Record<number, Answer> = {
  422: error('OVER_MEMORY_BUDGET: the template needs more memory than this host\'s whole budget'),
  429: error('CAPACITY_EXCEEDED (past an admission limit with ?queue=false or Prefer: no-queue) or TOO_MANY_FAILED_SIGN_INS; see Retry-After'),
  503: storeDown,
};

const capsuleIdParam: Parameter = { name: 'id', in: 'path', required: true, schema: PathCapsuleId };
const capsuleErrors: Record<number, Answer> = {
  400: error('INVALID_REQUEST: not a capsule id (field id)'),
  403: error('FORBIDDEN: the capsule belongs to another team'),
  404: error('CAPSULE_NOT_FOUND: no bug capsule of that id (deleted, or never taken)'),
};
const envName: Parameter = { name: 'name', in: 'path', required: true, schema: PathEnvironmentName };
const wait: Parameter = { name: 'wait', in: 'query', schema: WaitQuery };
const queue: Parameter = { name: 'queue', in: 'query', schema: QueueQuery };

export const OPERATIONS: Operation[] = [
  {
    method: 'get', path: '/openapi.json', operationId: 'getOpenApiDocument', summary: 'This document', auth: false,
    responses: {
      200: json(OpenApiDocument, 'the OpenAPI 3.1 document'),
      406: error('NOT_ACCEPTABLE: the Accept header does not allow application/json'),
    },
  },
  {
    method: 'get', path: '/environments', operationId: 'listEnvironments', summary: 'List environments (live ones unless asked otherwise)',
    parameters: [
      { name: 'status', in: 'query', schema: StatusQuery },
      { name: 'template', in: 'query', schema: z.string() },
      { name: 'owner', in: 'query', schema: z.string() },
      { name: 'team', in: 'query', schema: z.string() },
      { name: 'all', in: 'query', schema: z.enum(['true', 'false']), description: 'include destroyed ones' },
      { name: 'If-None-Match', in: 'header', schema: z.string(), description: 'the ETag of a previous answer: 304 while the list is the same' },
    ],
    responses: {
      200: json(EnvironmentList, 'the environments (with an ETag)'),
      304: { description: 'unchanged since the ETag given in If-None-Match' },
      400: error('INVALID_REQUEST: invalid query (status), or INVALID_JSON'),
    },
  },
  {
    method: 'post', path: '/environments', operationId: 'createEnvironment', summary: 'Create an environment (a name is generated when none is given)',
    description: 'With `capsule`: a new environment brought up from that bug capsule (its template, seed, image digests and data).',
    parameters: [wait, queue], body: DeployRequest,
    responses: {
      202: json(DeployAnswer, 'provisioning queued'),
      ...deployErrors,
      400: error('INVALID_REQUEST: invalid body or query (details names every field), or INVALID_JSON; a capsule not ready (field capsule)'),
      403: error('FORBIDDEN: the capsule belongs to another team'),
      404: error('CAPSULE_NOT_FOUND: no bug capsule of that id (details name the field capsule)'),
      409: error('NAME_TAKEN, ENVIRONMENT_DESTROYING, or TEMPLATE_GONE (the capsule\'s template is no longer served)'),
    },
  },
  {
    method: 'get', path: '/environments/{name}', operationId: 'getEnvironment', summary: 'One environment',
    parameters: [envName, wait],
    responses: { 200: json(Environment, 'the environment'), ...envErrors },
  },
  {
    method: 'put', path: '/environments/{name}', operationId: 'deployEnvironment', summary: 'Create or redeploy by name (idempotent)',
    description: 'With `capsule`: a NEW environment brought up from that bug capsule (its template, seed, image digests and data); never a redeploy (409 NAME_TAKEN when the name is in use).',
    parameters: [envName, wait, queue], body: DeployRequest,
    responses: {
      200: json(DeployAnswer, 'nothing changed (action "unchanged"); a given ttl renews the lease'),
      202: json(DeployAnswer, 'a deploy was queued (action "created" or "redeployed")'),
      ...deployErrors,
      400: error('INVALID_REQUEST: invalid name, body or query (details names every field), or INVALID_JSON; a capsule not ready (field capsule)'),
      403: error('FORBIDDEN: the environment, or the capsule, belongs to another team'),
      404: error('CAPSULE_NOT_FOUND: no bug capsule of that id (details name the field capsule)'),
      409: error('TEMPLATE_MISMATCH, SEED_MISMATCH, ENVIRONMENT_DESTROYING (still tearing down after 2 min), CONCURRENT_UPDATE, NAME_TAKEN or TEMPLATE_GONE (with capsule)'),
    },
  },
  {
    method: 'delete', path: '/environments/{name}', operationId: 'destroyEnvironment', summary: 'Destroy (idempotent)',
    parameters: [envName, wait],
    responses: { 202: json(Environment, 'teardown queued'), ...envErrors, 403: forbidden, 503: storeDown },
  },
  {
    method: 'get', path: '/environments/{name}/events', operationId: 'getEnvironmentEvents',
    summary: 'The timeline: JSON, or server-sent events with Accept: text/event-stream',
    description: 'With `Accept: text/event-stream` the answer is a stream: every event so far, then each new one as it is recorded (`id:` is the event id; send `Last-Event-ID` to resume).',
    parameters: [envName, { name: 'Last-Event-ID', in: 'header', schema: z.string(), description: 'SSE: resume after this event id' }],
    responses: {
      200: {
        description: 'the events',
        content: {
          'application/json': EventList,
          'text/event-stream': z.string().meta({ description: 'one `data:` line per event, each an Event as JSON' }),
        },
      },
      ...envErrors,
    },
  },
  {
    method: 'get', path: '/environments/{name}/logs', operationId: 'getEnvironmentLogs', summary: 'Container logs of the environment\'s services, streamed',
    parameters: [
      envName,
      { name: 'service', in: 'query', schema: z.string(), description: 'one service; the entry service when absent' },
      { name: 'tail', in: 'query', schema: TailQuery },
      { name: 'follow', in: 'query', schema: z.enum(['true', '1']), description: 'keep the answer open and stream new lines' },
    ],
    responses: {
      200: { description: 'log lines as they come', content: { 'text/plain': z.string() } },
      ...envErrors,
      400: error('INVALID_REQUEST: invalid name, service or tail (details names each field), or INVALID_JSON'),
      404: error('ENVIRONMENT_NOT_FOUND, or the worker has no container for the service'),
      503: error('SERVICE_UNAVAILABLE: the worker\'s internal endpoint does not answer, or STORE_UNAVAILABLE'),
    },
  },
  {
    method: 'post', path: '/environments/{name}/extend', operationId: 'extendEnvironment',
    summary: 'Move the lease\'s end to ttl from now (within the template\'s maximum)',
    parameters: [envName], body: ExtendRequest,
    responses: {
      200: json(Environment, 'the new lease'), ...envErrors,
      400: error('INVALID_REQUEST: invalid name, missing or too long ttl, unknown field, or INVALID_JSON'),
      403: forbidden, 409: error('ENVIRONMENT_GONE'),
    },
  },
  {
    method: 'post', path: '/environments/{name}/reset-db', operationId: 'resetEnvironmentDatabase',
    summary: 'Put the database back to its seed (a new generation)', parameters: [envName, wait],
    responses: { 202: json(Environment, 'reset queued'), ...envErrors, 403: forbidden, 409: error('NO_SEED or NOT_RESETTABLE'), 503: storeDown },
  },
  {
    method: 'get', path: '/environments/{name}/checkpoints', operationId: 'listCheckpoints',
    summary: 'The environment\'s checkpoints of its database, newest first', parameters: [envName],
    responses: { 200: json(CheckpointList, 'its checkpoints'), ...envErrors },
  },
  {
    method: 'post', path: '/environments/{name}/checkpoints', operationId: 'takeCheckpoint',
    summary: 'Take a checkpoint of the database now (paused for a moment)', parameters: [envName], body: CheckpointRequest, bodyRequired: false,
    responses: {
      202: json(CheckpointAnswer, 'recorded; the worker takes it (pending, then ready)'), ...envErrors,
      400: error('INVALID_REQUEST: invalid environment name or an unknown field, or INVALID_JSON'),
      403: forbidden, 409: error('NOT_READY or NO_DATABASE'), 503: storeDown,
    },
  },
  {
    method: 'post', path: '/environments/{name}/rewind', operationId: 'rewindEnvironment',
    summary: 'Bring a checkpoint back into the database (a new generation; the current data is checkpointed first)', parameters: [envName, wait], body: RewindRequest,
    responses: {
      202: json(Environment, 'rewind queued'), ...envErrors,
      400: error('INVALID_REQUEST: checkpoint missing, unknown, of another environment, or not ready (details name the field); or INVALID_JSON'),
      403: forbidden, 409: error('NOT_RESETTABLE: the environment is not ready, asleep or failed'), 503: storeDown,
    },
  },
  {
    method: 'get', path: '/environments/{name}/forks', operationId: 'listForks',
    summary: 'The environment\'s live forks', parameters: [envName],
    responses: { 200: json(ForkList, 'its forks'), ...envErrors },
  },
  {
    method: 'post', path: '/environments/{name}/forks', operationId: 'forkEnvironment',
    summary: 'Fork the environment for a tester: <name>--<for>, the same digests and a copy of its current database', parameters: [envName, wait, queue], body: ForkRequest,
    responses: {
      202: json(ForkAnswer, 'the fork, queued'), ...envErrors,
      400: error('INVALID_REQUEST: a missing or malformed "for", a fork name over 63 characters, or a fork past MAYFLY_FORK_DEPTH_MAX (field name); or INVALID_JSON'),
      403: forbidden, 409: error('NOT_READY (the parent) or NAME_TAKEN (the fork exists)'), ...deployErrors,
    },
  },
  {
    method: 'get', path: '/environments/{name}/capsules', operationId: 'listCapsules',
    summary: 'Bug capsules taken of environments of this name (also gone ones) that your team holds, newest first', parameters: [envName],
    responses: { 200: json(CapsuleList, 'its capsules'), ...envErrors, 403: forbidden },
  },
  {
    method: 'post', path: '/environments/{name}/capsules', operationId: 'takeCapsule',
    summary: 'Take a bug capsule: a copy of the database (paused for a moment), image digests, stack, timeline, logs and the router\'s recent requests',
    parameters: [envName], body: CapsuleRequest, bodyRequired: false,
    responses: {
      202: json(CapsuleAnswer, 'recorded, with the request trail; the worker takes the rest (pending, then ready)'), ...envErrors,
      400: error('INVALID_REQUEST: invalid environment name, a bad name or note, or an unknown field (details name each); or INVALID_JSON'),
      403: forbidden, 409: error('NOT_READY, NO_DATABASE, or CAPSULES_LIMIT (the team holds MAYFLY_CAPSULES_PER_TEAM)'), 503: storeDown,
    },
  },
  {
    method: 'get', path: '/capsules/{id}', operationId: 'getCapsule', summary: 'One bug capsule with everything recorded',
    parameters: [capsuleIdParam],
    responses: { ...capsuleErrors, 200: json(Capsule, 'the capsule') },
  },
  {
    method: 'get', path: '/capsules/{id}/archive', operationId: 'getCapsuleArchive',
    summary: 'The capsule as one .tar.gz for a bug report: manifest.json, stack.yml, timeline.json, requests.json, logs/<service>.log, database.sql.gz',
    parameters: [capsuleIdParam],
    responses: { ...capsuleErrors, 200: { description: 'the archive', content: { 'application/gzip': z.string().meta({ format: 'binary' }) } } },
  },
  {
    method: 'delete', path: '/capsules/{id}', operationId: 'deleteCapsule', summary: 'Delete a bug capsule (its team or an admin); the worker removes its volume, then its record',
    parameters: [capsuleIdParam],
    responses: { ...capsuleErrors, 202: json(CapsuleSummary, 'deleted; its volume is being removed'), 503: storeDown },
  },
  {
    method: 'post', path: '/environments/{name}/snapshots', operationId: 'saveEnvironmentSnapshot',
    summary: 'Save the environment\'s database as a new dataset', parameters: [envName], body: SnapshotRequest,
    responses: {
      202: json(SnapshotAnswer, 'saving'), ...envErrors,
      400: error('INVALID_REQUEST: invalid environment name, or a missing, malformed or taken dataset name, or INVALID_JSON'),
      403: error('FORBIDDEN: the environment belongs to another team, and the token may not manage it'),
      409: error('NOT_READY, SNAPSHOTS_UNSUPPORTED, or SAVED_DATASETS_LIMIT (the team holds MAYFLY_SAVED_DATASETS_PER_TEAM saved datasets)'),
      413: error('SAVED_BYTES_LIMIT: the team\'s saved datasets with this one (estimated) would exceed MAYFLY_SAVED_BYTES_PER_TEAM; or PAYLOAD_TOO_LARGE'),
    },
  },
  {
    method: 'post', path: '/environments/{name}/share', operationId: 'shareEnvironment',
    summary: 'A link that opens this one environment without an account, until it expires', parameters: [envName], body: ShareRequest, bodyRequired: false,
    responses: {
      201: json(ShareAnswer, 'the share link'), ...envErrors,
      400: error('INVALID_REQUEST: invalid environment name or ttl, or INVALID_JSON'),
      403: error('FORBIDDEN: the environment belongs to another team'),
      409: error('ENVIRONMENT_GONE'),
    },
  },
  {
    method: 'get', path: '/templates', operationId: 'listTemplates', summary: 'Templates, their services and leases',
    responses: { 200: json(TemplateList, 'the templates') },
  },
  {
    method: 'get', path: '/seeds', operationId: 'listSeeds', summary: 'Datasets, their golden snapshots and the clone strategy',
    responses: { 200: json(SeedList, 'the datasets') },
  },
  {
    method: 'delete', path: '/seeds/{name}', operationId: 'deleteSavedDataset',
    summary: 'Delete a saved dataset (its team or an admin); the worker removes its volumes',
    parameters: [{ name: 'name', in: 'path', required: true, schema: PathDatasetName }],
    responses: {
      202: json(SavedDatasetDeleted, 'deleted; its volumes are being removed'),
      400: error('INVALID_REQUEST: invalid dataset name (details names the field)'),
      403: error('FORBIDDEN: the dataset belongs to another team, and the token may not delete it'),
      404: error('DATASET_NOT_FOUND: no saved dataset of that name'),
      409: error('DATASET_IN_USE (live environments were started from it; details.environments names them), DATASET_IS_FILE (a dataset in seed-data/), DATASET_SAVING or CONCURRENT_UPDATE'),
    },
  },
  {
    method: 'post', path: '/seeds/{name}/refresh', operationId: 'refreshSeed', summary: 'Build the dataset\'s golden snapshots ahead of time',
    parameters: [{ name: 'name', in: 'path', required: true, schema: PathDatasetName }],
    responses: {
      202: json(RefreshAnswer, 'building'),
      400: error('INVALID_REQUEST: invalid dataset name, or INVALID_JSON'),
      404: error('DATASET_NOT_FOUND'),
    },
  },
  {
    method: 'get', path: '/audit', operationId: 'listAudit',
    summary: 'The audit trail: who did what to which environment, from which door (admins)',
    // The query is checked by api/routes/audit.ts (parseAuditQuery).
    parameters: [
      { name: 'environment', in: 'query', schema: z.string(), description: 'only this environment' },
      { name: 'actor', in: 'query', schema: z.string(), description: 'only this person or token' },
      { name: 'door', in: 'query', schema: z.enum(VIAS), description: 'only this door' },
      { name: 'since', in: 'query', schema: z.string().meta({ format: 'date-time' }), description: 'from this time on' },
      { name: 'until', in: 'query', schema: z.string().meta({ format: 'date-time' }), description: 'before this time' },
      { name: 'limit', in: 'query', schema: z.coerce.number().int().min(1).max(1000).meta({ default: 100 }), description: 'at most this many entries' },
    ],
    responses: {
      200: json(AuditList, 'the entries, newest first'),
      400: error('INVALID_REQUEST: an unknown or malformed filter'),
      403: error('FORBIDDEN: admins only (MAYFLY_ADMINS)'),
    },
  },
];

/** Every answer an operation may give: its own over the common ones when it is behind the token. */
export function answersOf(op: Operation): Record<number, Answer> {
  return op.auth === false ? op.responses : { ...COMMON, ...op.responses };
}

/** The operation serving `method` on `path` (relative to /api/v1, without the query), if described. */
export function findOperation(method: string, path: string): { op: Operation; params: Record<string, string> } | undefined {
  const m = method.toLowerCase();
  const parts = path.split('/');
  for (const op of OPERATIONS) {
    if (op.method !== m) continue;
    const pattern = op.path.split('/');
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = pattern.every((p, i) => {
      const param = /^\{(\w+)\}$/.exec(p);
      if (!param) return p === parts[i];
      if (!parts[i]) return false;
      try { params[param[1]!] = decodeURIComponent(parts[i]!); } catch { params[param[1]!] = parts[i]!; }
      return true;
    });
    if (ok) return { op, params };
  }
  return undefined;
}
