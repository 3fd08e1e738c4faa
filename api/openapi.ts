import { DOORS, STATUSES } from '../core/domain.js';

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
const common = {
  401: error('no or invalid bearer token'),
  429: error('TOO_MANY_FAILED_SIGN_INS (too many wrong tokens from this address) or CAPACITY_EXCEEDED (past an admission limit with ?queue=false); see Retry-After'),
  500: error('unexpected failure'),
};
const envErrors = { ...common, 400: error('invalid name or query'), 404: error('no environment of that name') };

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
    destroyReason: { type: ['string', 'null'], enum: ['destroyed', 'expired', 'pull-request-closed', null] },
    destroyedBy: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    readyAt: { type: ['string', 'null'], format: 'date-time' },
    destroyedAt: { type: ['string', 'null'], format: 'date-time' },
    links: { type: 'object', properties: { self: { type: 'string', format: 'uri' }, events: { type: 'string', format: 'uri' } } },
  },
};

export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mayfly REST API',
      version,
      description: 'Ephemeral test environments: create, redeploy, extend, reset and destroy them, and read their timeline.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    paths: {
      '/openapi.json': {
        get: { summary: 'This document', security: [], responses: { 200: json({ type: 'object' }, 'the OpenAPI 3.1 document') } },
      },
      '/environments': {
        get: {
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
            400: error('invalid query'), ...common,
          },
        },
        post: {
          summary: 'Create an environment (a name is generated when none is given)',
          parameters: [wait],
          requestBody: { required: true, content: { 'application/json': { schema: ref('EnvironmentRequest') } } },
          responses: { 202: json(ref('DeployAnswer'), 'provisioning queued'), 400: error('invalid body: details names every field'), 409: error('NAME_TAKEN'), ...common },
        },
      },
      '/environments/{name}': {
        parameters: [name],
        get: { summary: 'One environment', parameters: [wait], responses: { 200: json(ref('Environment'), 'the environment'), ...envErrors } },
        put: {
          summary: 'Create or redeploy by name (idempotent)',
          parameters: [wait],
          requestBody: { required: true, content: { 'application/json': { schema: ref('EnvironmentRequest') } } },
          responses: {
            200: json(ref('DeployAnswer'), 'nothing changed (action "unchanged"); a given ttl renews the lease'),
            202: json(ref('DeployAnswer'), 'a deploy was queued (action "created" or "redeployed")'),
            409: error('TEMPLATE_MISMATCH'), ...envErrors,
          },
        },
        delete: { summary: 'Destroy (idempotent)', parameters: [wait], responses: { 202: json(ref('Environment'), 'teardown queued'), 403: error('not allowed to manage it'), ...envErrors } },
      },
      '/environments/{name}/events': {
        parameters: [name],
        get: {
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
          summary: 'Container logs of the environment\'s services, streamed',
          parameters: [
            { name: 'service', in: 'query', required: false, schema: { type: 'string' }, description: 'one service; all services when absent' },
            { name: 'tail', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'lines from the end of each log' },
          ],
          responses: { 200: { description: 'log lines as they come', content: { 'text/plain': { schema: { type: 'string' } } } }, 409: error('not running'), ...envErrors },
        },
      },
      '/environments/{name}/extend': {
        parameters: [name],
        post: {
          summary: 'Move the lease\'s end to ttl from now (within the template\'s maximum)',
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['ttl'], additionalProperties: false, properties: { ttl: { type: 'string', examples: ['4h'] } } } } } },
          responses: { 200: json(ref('Environment'), 'the new lease'), 403: error('not allowed to manage it'), 409: error('ENVIRONMENT_GONE'), ...envErrors },
        },
      },
      '/environments/{name}/reset-db': {
        parameters: [name],
        post: { summary: 'Put the database back to its seed (a new generation)', parameters: [wait], responses: { 202: json(ref('Environment'), 'reset queued'), 403: error('not allowed to manage it'), 409: error('NO_SEED or NOT_RESETTABLE'), ...envErrors } },
      },
      '/environments/{name}/snapshots': {
        parameters: [name],
        post: {
          summary: 'Save the environment\'s database as a new dataset',
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string' } } } } } },
          responses: { 202: json({ type: 'object', properties: { dataset: { type: 'string' }, template: { type: 'string' }, source: { type: 'string' }, status: { const: 'saving' } } }, 'saving'), 409: error('NOT_READY or SNAPSHOTS_UNSUPPORTED'), ...envErrors },
        },
      },
      '/templates': {
        get: { summary: 'Templates, their services and leases', responses: { 200: json({ type: 'object', properties: { templates: { type: 'array', items: { type: 'object' } } } }, 'the templates'), ...common } },
      },
      '/seeds': {
        get: { summary: 'Datasets, their golden snapshots and the clone strategy', responses: { 200: json({ type: 'object', properties: { strategy: { type: ['object', 'null'] }, datasets: { type: 'array', items: { type: 'object' } } } }, 'the datasets'), ...common } },
      },
      '/seeds/{name}/refresh': {
        parameters: [{ ...name, description: 'dataset name' }],
        post: { summary: 'Build the dataset\'s golden snapshots ahead of time', responses: { 202: json({ type: 'object' }, 'building'), 404: error('no such dataset'), 400: error('invalid name'), ...common } },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a secret of MAYFLY_API_TOKENS' } },
      schemas: {
        Environment: environmentSchema,
        DeployAnswer: { allOf: [ref('Environment'), { type: 'object', properties: { action: { type: 'string', enum: ['created', 'redeployed', 'unchanged'] } } }] },
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
