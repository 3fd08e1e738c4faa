import { DESTROY_REASONS, DOORS, STATUSES } from '../core/domain/environment.js';
import { VIAS } from '../core/domain/principal.js';
import { MAX_LOG_TAIL } from '../core/platform/internal-api.js';

/**
 * The OpenAPI 3.1 description of REST v1, served at /api/v1/openapi.json. Paths are relative to
 * the server URL `/api/v1`. test/integration/openapi.test.ts walks the Express router: every
 * route under /api/v1 must be described here, and every path+method described must exist.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);
const name = { name: 'name', in: 'path', required: true, description: 'environment name', schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } };
const wait = {
  name: 'wait', in: 'query', required: false, schema: { type: 'string', examples: ['60', '5m'] },
  description: 'hold the answer until the environment is ready, failed or destroyed, at most this long (seconds or a duration, up to 900 s)',
};
/**
 * What every operation behind the bearer token may answer: the body parser and the token check
 * run before each route (api/app.ts), whatever its method. Routes add their own 4XX to these.
 */
const common = {
  400: error('INVALID_JSON: a body that is not valid JSON'),
  401: error('UNAUTHORIZED: no or invalid bearer token'),
  413: error('PAYLOAD_TOO_LARGE: a body over 64 kB'),
  415: error('UNSUPPORTED_ENCODING: a Content-Encoding or charset the server does not read'),
  429: error('TOO_MANY_FAILED_SIGN_INS: too many wrong tokens from this address; see Retry-After'),
  500: error('unexpected failure'),
};
const envErrors = { ...common, 400: error('INVALID_REQUEST: invalid name or query (details names each field), or INVALID_JSON'), 404: error('ENVIRONMENT_NOT_FOUND: no environment of that name') };
/** Answers of the operations that queue work (Redis) and may be refused for capacity or ownership. */
const forbidden = error('FORBIDDEN: the environment belongs to another team, and the token may not manage it');
/** Accepted means recorded in PostgreSQL: a Redis outage delays the work (delivery "deferred") but is never an error answer. */
const storeDown = error('STORE_UNAVAILABLE: PostgreSQL, where requests are recorded, did not answer; nothing was recorded or changed (see Retry-After)');
const deployErrors = {
  422: error('OVER_MEMORY_BUDGET: the template needs more memory than this host\'s whole budget'),
  429: error('CAPACITY_EXCEEDED (past an admission limit with ?queue=false or Prefer: no-queue) or TOO_MANY_FAILED_SIGN_INS; see Retry-After'),
  503: storeDown,
};
const queue = {
  name: 'queue', in: 'query', required: false, schema: { type: 'string', enum: ['true', 'false'] },
  description: 'false: answer 429 CAPACITY_EXCEEDED instead of waiting in line when an admission limit is reached (as Prefer: no-queue)',
};

/**
 * Saved datasets (ownership, DELETE /seeds/{name}): self-contained, so that it ports as one piece.
 * SavedDataset is the shape of a saved entry of GET /seeds and of the DELETE answer.
 */
const savedDataset = {
  paramName: { name: 'name', in: 'path', required: true, description: 'saved dataset name', schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
  schema: {
    type: 'object',
    required: ['name', 'status', 'owner', 'team', 'sizeBytes', 'source', 'createdAt'],
    properties: {
      name: { type: 'string' },
      status: { type: 'string', enum: ['building', 'ready', 'failed', 'deleting'], description: 'building: being saved; failed: see error; deleting: its volumes are being removed' },
      owner: { type: ['string', 'null'], description: 'the principal that saved it' },
      team: { type: 'string', description: 'the owner\'s team: its members and admins may delete it, and it counts against the team\'s limits' },
      sizeBytes: { type: ['integer', 'null'], description: 'bytes of its copy once saved' },
      source: { type: 'object', properties: { environment: { type: ['string', 'null'], description: 'the environment it was saved from' }, template: { type: ['string', 'null'] } } },
      createdAt: { type: 'string', format: 'date-time' },
      readyAt: { type: ['string', 'null'], format: 'date-time' },
      error: { type: ['string', 'null'] },
      canDelete: { type: 'boolean', description: 'GET /seeds: whether the caller may delete it' },
      volumes: { type: 'array', items: { type: 'string' }, description: 'DELETE: the volumes being removed' },
      delivery: { type: 'string', enum: ['queued', 'deferred'], description: 'DELETE: deferred when the job queue (Redis) did not answer; the reconciler removes the volumes' },
      links: { type: 'object', properties: { delete: { type: 'string', format: 'uri' } } },
    },
  },
  listItem: {
    type: 'object', required: ['name', 'kind'],
    properties: { name: { type: 'string' }, kind: { type: 'string', enum: ['dataset', 'saved'] }, description: { type: ['string', 'null'] }, templates: { type: 'array', items: { type: ['string', 'null'] } }, snapshots: { type: 'array', items: { type: 'object' } } },
    description: 'kind "saved" entries also carry the SavedDataset fields (owner, team, sizeBytes, source...)',
  },
  saveErrors: {
    403: { description: 'FORBIDDEN: the environment belongs to another team, and the token may not manage it', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    409: { description: 'NOT_READY, SNAPSHOTS_UNSUPPORTED, or SAVED_DATASETS_LIMIT (the team holds MAYFLY_SAVED_DATASETS_PER_TEAM saved datasets)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    413: { description: 'SAVED_BYTES_LIMIT: the team\'s saved datasets with this one (estimated) would exceed MAYFLY_SAVED_BYTES_PER_TEAM; or PAYLOAD_TOO_LARGE', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  },
  deleteErrors: {
    400: { description: 'INVALID_REQUEST: invalid dataset name (details names the field), or INVALID_JSON', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    403: { description: 'FORBIDDEN: the dataset belongs to another team, and the token may not delete it', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    404: { description: 'DATASET_NOT_FOUND: no saved dataset of that name', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    409: { description: 'DATASET_IN_USE (live environments were started from it; details.environments names them), DATASET_IS_FILE (a dataset in seed-data/), DATASET_SAVING or CONCURRENT_UPDATE', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  },
};

const environmentSchema = {
  type: 'object',
  required: ['id', 'name', 'template', 'status', 'owner', 'door', 'images', 'expiresAt', 'generation', 'links'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    template: { type: 'string' },
    status: { type: 'string', enum: [...STATUSES] },
    owner: { type: 'string', description: 'the token\'s name, slack:<user> or github:<login>' },
    door: { type: 'string', enum: [...DOORS] },
    images: { type: 'object', additionalProperties: { type: 'string' }, description: 'service -> image reference' },
    digests: { type: 'object', additionalProperties: { type: 'string' } },
    seed: { type: ['string', 'null'] },
    ttl: { type: 'string', examples: ['4h'] },
    expiresAt: { type: 'string', format: 'date-time' },
    expiresInSeconds: { type: 'integer' },
    generation: { type: 'integer' },
    url: { type: ['string', 'null'], format: 'uri', description: 'the entry service\'s URL while ready' },
    urls: { type: 'object', additionalProperties: { type: 'string', format: 'uri' } },
    database: { type: ['object', 'null'], properties: { seed: { type: 'string' }, snapshot: { type: ['string', 'null'] }, strategy: { type: ['string', 'null'] }, seededAt: { type: ['string', 'null'], format: 'date-time' } } },
    failure: { type: ['object', 'null'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
    destroyReason: { type: ['string', 'null'], enum: [...DESTROY_REASONS, null] },
    destroyedBy: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    readyAt: { type: ['string', 'null'], format: 'date-time' },
    destroyedAt: { type: ['string', 'null'], format: 'date-time' },
    links: { type: 'object', properties: { self: { type: 'string', format: 'uri' }, events: { type: 'string', format: 'uri' } } },
  },
};

/** The version of REST v1 the document states (info.version). */
export const API_VERSION = '1.0.0';

export function openApiDocument(version: string = API_VERSION) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mayfly REST API',
      version,
      description: 'Ephemeral test environments: create, redeploy, extend, reset and destroy them, and read their timeline.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    paths: {
      '/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument', summary: 'This document', security: [],
          responses: { 200: json({ type: 'object' }, 'the OpenAPI 3.1 document'), 406: error('NOT_ACCEPTABLE: the Accept header does not allow application/json') },
        },
      },
      '/environments': {
        get: {
          operationId: 'listEnvironments',
          summary: 'List environments (live ones unless asked otherwise)',
          parameters: [
            { name: 'status', in: 'query', schema: { type: 'string' }, description: `comma-separated: ${STATUSES.join(', ')}` },
            { name: 'template', in: 'query', schema: { type: 'string' } },
            { name: 'owner', in: 'query', schema: { type: 'string' } },
            { name: 'team', in: 'query', schema: { type: 'string' } },
            { name: 'all', in: 'query', schema: { type: 'string', enum: ['true', 'false'] }, description: 'include destroyed ones' },
            { name: 'If-None-Match', in: 'header', schema: { type: 'string' }, description: 'the ETag of a previous answer: 304 while the list is the same' },
          ],
          responses: {
            200: json({ type: 'object', properties: { environments: { type: 'array', items: ref('Environment') } } }, 'the environments (with an ETag)'),
            304: { description: 'unchanged since the ETag given in If-None-Match' },
            ...common, 400: error('INVALID_REQUEST: invalid query (status), or INVALID_JSON'),
          },
        },
        post: {
          operationId: 'createEnvironment',
          summary: 'Create an environment (a name is generated when none is given)',
          parameters: [wait, queue],
          requestBody: { required: true, content: { 'application/json': { schema: ref('EnvironmentRequest') } } },
          responses: {
            202: json(ref('DeployAnswer'), 'provisioning queued'),
            ...common, ...deployErrors,
            400: error('INVALID_REQUEST: invalid body or query (details names every field), or INVALID_JSON'),
            409: error('NAME_TAKEN or ENVIRONMENT_DESTROYING'),
          },
        },
      },
      '/environments/{name}': {
        parameters: [name],
        get: { operationId: 'getEnvironment', summary: 'One environment', parameters: [wait], responses: { 200: json(ref('Environment'), 'the environment'), ...envErrors } },
        put: {
          operationId: 'deployEnvironment',
          summary: 'Create or redeploy by name (idempotent)',
          parameters: [wait, queue],
          requestBody: { required: true, content: { 'application/json': { schema: ref('EnvironmentRequest') } } },
          responses: {
            200: json(ref('DeployAnswer'), 'nothing changed (action "unchanged"); a given ttl renews the lease'),
            202: json(ref('DeployAnswer'), 'a deploy was queued (action "created" or "redeployed")'),
            ...common, ...deployErrors,
            400: error('INVALID_REQUEST: invalid name, body or query (details names every field), or INVALID_JSON'),
            403: forbidden,
            409: error('TEMPLATE_MISMATCH, SEED_MISMATCH, ENVIRONMENT_DESTROYING (still tearing down after 2 min) or CONCURRENT_UPDATE'),
          },
        },
        delete: {
          operationId: 'destroyEnvironment', summary: 'Destroy (idempotent)', parameters: [wait],
          responses: { 202: json(ref('Environment'), 'teardown queued'), ...envErrors, 403: forbidden, 503: storeDown },
        },
      },
      '/environments/{name}/events': {
        parameters: [name],
        get: {
          operationId: 'getEnvironmentEvents',
          summary: 'The timeline: JSON, or server-sent events with Accept: text/event-stream',
          description: 'With `Accept: text/event-stream` the answer is a stream: every event so far, then each new one as it is recorded (`id:` is the event id; send `Last-Event-ID` to resume).',
          parameters: [{ name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' }, description: 'SSE: resume after this event id' }],
          responses: {
            200: {
              description: 'the events',
              content: {
                'application/json': { schema: { type: 'object', properties: { environment: { type: 'string' }, id: { type: 'string', format: 'uuid' }, events: { type: 'array', items: ref('Event') } } } },
                'text/event-stream': { schema: { type: 'string', description: 'one `data:` line per event, each an Event as JSON' } },
              },
            },
            ...envErrors,
          },
        },
      },
      '/environments/{name}/logs': {
        parameters: [name],
        get: {
          operationId: 'getEnvironmentLogs',
          summary: 'Container logs of the environment\'s services, streamed',
          parameters: [
            { name: 'service', in: 'query', required: false, schema: { type: 'string' }, description: 'one service; all services when absent' },
            { name: 'tail', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: MAX_LOG_TAIL, default: 100 }, description: 'lines from the end of each log' },
            { name: 'follow', in: 'query', required: false, schema: { type: 'string', enum: ['true', '1'] }, description: 'keep the answer open and stream new lines' },
          ],
          responses: {
            200: { description: 'log lines as they come', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...envErrors,
            400: error('INVALID_REQUEST: invalid name, service or tail (details names each field), or INVALID_JSON'),
            404: error('ENVIRONMENT_NOT_FOUND, or the worker has no container for the service'),
            503: error('SERVICE_UNAVAILABLE: the worker\'s internal endpoint does not answer'),
          },
        },
      },
      '/environments/{name}/extend': {
        parameters: [name],
        post: {
          operationId: 'extendEnvironment',
          summary: 'Move the lease\'s end to ttl from now (within the template\'s maximum)',
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['ttl'], additionalProperties: false, properties: { ttl: { type: 'string', examples: ['4h'] } } } } } },
          responses: { 200: json(ref('Environment'), 'the new lease'), ...envErrors, 400: error('INVALID_REQUEST: invalid name, missing or too long ttl, unknown field, or INVALID_JSON'), 403: forbidden, 409: error('ENVIRONMENT_GONE') },
        },
      },
      '/environments/{name}/reset-db': {
        parameters: [name],
        post: {
          operationId: 'resetEnvironmentDatabase', summary: 'Put the database back to its seed (a new generation)', parameters: [wait],
          responses: { 202: json(ref('Environment'), 'reset queued'), ...envErrors, 403: forbidden, 409: error('NO_SEED or NOT_RESETTABLE'), 503: storeDown },
        },
      },
      '/environments/{name}/snapshots': {
        parameters: [name],
        post: {
          operationId: 'saveEnvironmentSnapshot',
          summary: 'Save the environment\'s database as a new dataset',
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string' } } } } } },
          responses: { 202: json({ type: 'object', properties: { dataset: { type: 'string' }, template: { type: 'string' }, source: { type: 'string' }, status: { const: 'saving' } } }, 'saving'), ...envErrors, 400: error('INVALID_REQUEST: invalid environment name, or a missing, malformed or taken dataset name, or INVALID_JSON'), ...savedDataset.saveErrors },
        },
      },
      '/templates': {
        get: { operationId: 'listTemplates', summary: 'Templates, their services and leases', responses: { 200: json({ type: 'object', properties: { templates: { type: 'array', items: { type: 'object' } } } }, 'the templates'), ...common } },
      },
      '/seeds': {
        get: { operationId: 'listSeeds', summary: 'Datasets, their golden snapshots and the clone strategy; saved datasets with owner, team, size and source', responses: { 200: json({ type: 'object', properties: { strategy: { type: ['object', 'null'] }, datasets: { type: 'array', items: { allOf: [savedDataset.listItem, { type: 'object', properties: savedDataset.schema.properties }] } } } }, 'the datasets'), ...common } },
      },
      '/seeds/{name}': {
        parameters: [savedDataset.paramName],
        delete: {
          operationId: 'deleteSavedDataset', summary: 'Delete a saved dataset (its team or an admin); the worker removes its volumes',
          responses: { 202: json(ref('SavedDataset'), 'deleted; its volumes are being removed'), ...common, ...savedDataset.deleteErrors },
        },
      },
      '/seeds/{name}/refresh': {
        parameters: [{ ...name, description: 'dataset name' }],
        post: {
          operationId: 'refreshSeed', summary: 'Build the dataset\'s golden snapshots ahead of time',
          responses: { 202: json({ type: 'object' }, 'building'), ...common, 400: error('INVALID_REQUEST: invalid dataset name, or INVALID_JSON'), 404: error('DATASET_NOT_FOUND') },
        },
      },
      '/audit': {
        get: {
          operationId: 'listAudit', summary: 'The audit trail: who did what to which environment, from which door (admins)',
          parameters: [
            { name: 'environment', in: 'query', required: false, schema: { type: 'string' }, description: 'only this environment' },
            { name: 'actor', in: 'query', required: false, schema: { type: 'string' }, description: 'only this person or token' },
            { name: 'door', in: 'query', required: false, schema: { type: 'string', enum: [...VIAS] }, description: 'only this door' },
            { name: 'since', in: 'query', required: false, schema: { type: 'string', format: 'date-time' }, description: 'from this time on' },
            { name: 'until', in: 'query', required: false, schema: { type: 'string', format: 'date-time' }, description: 'before this time' },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, description: 'at most this many entries' },
          ],
          responses: {
            200: json({ type: 'object', required: ['entries'], properties: { entries: { type: 'array', items: ref('AuditEntry') } } }, 'the entries, newest first'),
            ...common, 400: error('INVALID_REQUEST: an unknown or malformed filter'), 403: error('FORBIDDEN: admins only (MAYFLY_ADMINS)'),
          },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a secret of MAYFLY_API_TOKENS' } },
      schemas: {
        AuditEntry: {
          type: 'object', required: ['id', 'at', 'actor', 'actorKind', 'team', 'door', 'action', 'outcome', 'environment', 'environmentId', 'details'],
          properties: {
            id: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, actor: { type: 'string' },
            actorKind: { type: 'string', enum: ['token', 'user', 'system'] }, team: { type: 'string' }, door: { type: 'string', enum: [...VIAS] },
            action: { type: 'string', description: 'e.g. environment.create, environment.destroy (core/app/authorization.ts)' },
            outcome: { type: 'string', enum: ['allowed', 'denied'] },
            environment: { type: ['string', 'null'] }, environmentId: { type: ['string', 'null'], format: 'uuid' },
            details: { type: 'object', description: 'what the action was given (ttl, reason, images) and, when denied, why' },
          },
        },
        Environment: environmentSchema,
        SavedDataset: savedDataset.schema,
        DeployAnswer: { allOf: [ref('Environment'), { type: 'object', properties: {
          action: { type: 'string', enum: ['created', 'redeployed', 'unchanged'] },
          delivery: { type: 'string', enum: ['queued', 'deferred'], description: 'deferred: recorded while the job queue (Redis) did not answer; the reconciler queues it when Redis is back' },
        } }] },
        EnvironmentRequest: {
          type: 'object', required: ['template'], additionalProperties: false,
          properties: {
            template: { type: 'string' },
            name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
            tag: { type: 'string', description: 'tag of every taggable image' },
            images: { type: 'object', additionalProperties: { type: 'string' }, description: 'service -> tag or whole reference' },
            seed: { type: 'string' },
            ttl: { type: 'string', examples: ['30m', '4h', '1h30m'] },
            callbackUrl: { type: 'string', format: 'uri' },
          },
        },
        Event: {
          type: 'object',
          properties: { id: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, type: { type: 'string' }, status: { type: ['string', 'null'] }, message: { type: 'string' }, data: { type: ['object', 'null'] } },
        },
        Error: {
          type: 'object', required: ['error'],
          properties: {
            error: {
              type: 'object', required: ['code', 'message'],
              properties: {
                code: { type: 'string' }, message: { type: 'string' },
                details: { description: 'for bad input: every offending field', type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
              },
            },
          },
        },
      },
    },
  };
}
