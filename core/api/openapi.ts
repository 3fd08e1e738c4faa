/**
 * The OpenAPI 3.1 document of REST v1, made from the route table (core/api/routes.ts) and its
 * zod schemas (core/api/schemas.ts) with zod's own JSON Schema output: served at
 * /api/v1/openapi.json, linted by Redocly and turned into cli/api-types.ts in the tests.
 */
import { z } from 'zod';
import { answersOf, OPERATIONS, type Answer, type Parameter } from './routes.js';

/** The version of REST v1 the document states (info.version). */
export const API_VERSION = '1.0.0';

type JsonSchema = Record<string, unknown>;
const REF = (id: string) => `#/components/schemas/${id}`;

/** What zod adds that the document does not need: regexes behind a format, the safe-integer bounds. */
function tidy(ctx: { jsonSchema: JsonSchema }): void {
  const s = ctx.jsonSchema;
  if (typeof s.format === 'string' && ['date-time', 'uuid'].includes(s.format)) delete s.pattern;
  if (s.minimum === Number.MIN_SAFE_INTEGER) delete s.minimum;
  if (s.maximum === Number.MAX_SAFE_INTEGER) delete s.maximum;
}

/** The id a schema is registered under (its component name), if any. */
function idOf(schema: z.ZodType): string | undefined {
  return z.globalRegistry.get(schema)?.id;
}

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const id = idOf(schema);
  if (id) return { $ref: REF(id) };
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, override: tidy, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameterOf(p: Parameter): JsonSchema {
  const { description, ...schema } = schemaOf(p.schema, 'input');
  return {
    name: p.name, in: p.in, required: p.in === 'path' ? true : p.required ?? false,
    ...(p.description ?? description ? { description: p.description ?? description } : {}),
    schema,
  };
}

function answerOf(a: Answer): JsonSchema {
  if (!a.content) return { description: a.description };
  return {
    description: a.description,
    content: Object.fromEntries(Object.entries(a.content).map(([type, schema]) => [type, { schema: schemaOf(schema, 'output') }])),
  };
}

/** The components: every schema the route table names (one with an id), with $refs between them. */
function components(): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, { uri: REF, override: tidy, unrepresentable: 'any' }) as { schemas: Record<string, JsonSchema> };
  const used = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && x.startsWith(REF(''))) {
        const id = x.slice(REF('').length);
        if (!used.has(id)) { used.add(id); walk(schemas[id]); }
      } else walk(x);
    }
  };
  walk(paths());
  return Object.fromEntries(Object.entries(schemas).filter(([id]) => used.has(id)).sort(([a], [b]) => a.localeCompare(b))
    .map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]));
}

function paths(): Record<string, Record<string, JsonSchema>> {
  const out: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) {
    const answers = answersOf(op);
    out[op.path] ??= {};
    out[op.path]![op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      ...(op.auth === false ? { security: [] } : {}),
      ...(op.parameters?.length ? { parameters: op.parameters.map(parameterOf) } : {}),
      ...(op.body ? { requestBody: { required: op.bodyRequired !== false, content: { 'application/json': { schema: schemaOf(op.body, 'input') } } } } : {}),
      responses: Object.fromEntries(Object.keys(answers).sort().map((status) => [status, answerOf(answers[Number(status)]!)])),
    };
  }
  return out;
}

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
    paths: paths(),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a secret of MAYFLY_API_TOKENS' } },
      schemas: components(),
    },
  };
}
