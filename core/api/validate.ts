/**
 * Checking a request against the schemas of core/api/schemas.ts, with the answer users get for
 * bad input: 400 INVALID_REQUEST whose details name every offending field, one message each.
 */
import type { z } from 'zod';
import { InputError, type FieldProblem } from '../domain/errors.js';

type Issue = z.core.$ZodIssue;

/** The allowed fields of an object schema (for "unknown field; allowed: ..."). */
function fieldsOf(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

/**
 * Zod's issues as field problems: `images.web` for a nested field, `(body)` for the body itself,
 * one problem per unknown field, and only the first problem of each field (a field's checks are
 * ordered from its type to the server's state: the first that fails says what is wrong).
 */
export function problemsOf(schema: z.ZodType, issues: readonly Issue[]): FieldProblem[] {
  const unknown: FieldProblem[] = [];
  const byField = new Map<string, FieldProblem>();
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = fieldsOf(schema).join(', ');
      for (const key of issue.keys) unknown.push({ field: [...issue.path, key].join('.'), message: `unknown field; allowed: ${allowed}` });
      continue;
    }
    const field = issue.path.length ? issue.path.map(String).join('.') : '(body)';
    // A record's key that is refused (an unknown service) says why in its own issues.
    const message = issue.code === 'invalid_key' ? issue.issues[0]?.message ?? issue.message : issue.message;
    if (!byField.has(field)) byField.set(field, { field, message });
  }
  return [...unknown, ...byField.values()];
}

/**
 * Checks a JSON body against its schema: the parsed value, or an InputError naming every
 * offending field ("the request body must be a JSON object" when it is not one).
 */
export function checkBody<S extends z.ZodType>(schema: S, body: unknown): { value?: z.output<S>; problems: FieldProblem[] } {
  const result = schema.safeParse(body);
  if (result.success) return { value: result.data, problems: [] };
  return { problems: problemsOf(schema, result.error.issues) };
}

/** The InputError for these problems (the body's own problem has its own message). */
export function inputError(problems: FieldProblem[]): InputError {
  if (problems.length === 1 && problems[0]!.field === '(body)') return new InputError('the request body must be a JSON object', problems);
  return new InputError(`invalid request: ${problems.map((p) => p.field).join(', ')}`, problems);
}

/** A body that must match its schema: the parsed value, or throws 400 naming every field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const { value, problems } = checkBody(schema, body);
  if (problems.length) throw inputError(problems);
  return value!;
}

/**
 * Only the body's unknown fields (or that it is not an object), for a route whose values are
 * checked further in, after the ownership check.
 */
export function unknownFields(schema: z.ZodType, body: unknown): FieldProblem[] {
  const result = schema.safeParse(body);
  if (result.success) return [];
  return problemsOf(schema, result.error.issues.filter((i) => i.code === 'unrecognized_keys' || (i.path.length === 0 && i.code === 'invalid_type')));
}

/** The problem of one path or query parameter, named `field`, or undefined when it is valid. */
export function paramProblem(schema: z.ZodType, field: string, value: unknown): FieldProblem | undefined {
  const result = schema.safeParse(value);
  return result.success ? undefined : { field, message: result.error.issues[0]!.message };
}

/** One parameter that must match its schema: the parsed value, or throws 400 `message` naming it. */
export function parseParam<S extends z.ZodType>(schema: S, field: string, value: unknown, message = 'invalid query'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new InputError(message, [{ field, message: result.error.issues[0]!.message }]);
  return result.data;
}
