import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import Handlebars from 'handlebars';
import YAML from 'yaml';
import { parseDuration } from '../domain/duration.js';
import { ACCESS_LEVELS, DEFAULT_ACCESS, type Access } from '../domain/environment.js';
import { NotFoundError, StackError } from '../domain/errors.js';
import { parseImageRef, withTag } from '../domain/image-ref.js';
import { parseStack } from '../stack/parse.js';
import { defaultPolicy, enforcePolicy, imagePolicyProblem, type StackPolicy } from '../stack/policy.js';
import type { Limits, StackSpec } from '../stack/model.js';

/** A template: its metadata (template.yml) and its compose file (compose.yml.hbs). */
export interface TemplateImage {
  image: string;
  taggable: boolean;
}

export interface Template {
  name: string;
  description: string;
  entryService: string;
  /** The database service; `volume` names its data volume (default: its first named volume). */
  database?: { service: string; name: string; user: string; volume?: string };
  images: Record<string, TemplateImage>;
  seeds: { default: string | null; allowed: string[] };
  ttl: { defaultSeconds: number; maxSeconds: number };
  /** Opt-in: stop the containers after this long without traffic through the router (`sleep: { after: 30m }`). */
  sleep?: { afterSeconds: number };
  /** Who may open its environments' addresses (`access: public | signed-in | team`; default signed-in). */
  access: Access;
  /**
   * Warm pool (`pool: { size: 1 }`): standbys of this template with its default seed and images,
   * started and healthy ahead of requests; 0 (the default) keeps none. See docs/templates.md.
   */
  pool: { size: number };
  source: string;
}

/** Values a template may use; every string is rendered as a quoted YAML scalar. */
export interface RenderInput {
  env: { id: string; name: string; project: string };
  images: Record<string, string>;
}

const TEMPLATE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A YAML double-quoted scalar: JSON's string escaping is valid YAML, and nothing in it is syntax. */
export function yamlQuote(value: string): string {
  return JSON.stringify(value);
}

/**
 * Every string in the render context becomes a Handlebars SafeString holding its quoted form, so
 * a template can only ever place a user value as one complete scalar, never as raw YAML text.
 */
function quoteAll(value: unknown): unknown {
  if (typeof value === 'string') return new Handlebars.SafeString(yamlQuote(value));
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(quoteAll);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, quoteAll(v)]));
  return value;
}

function invalid(template: string, field: string, message: string): never {
  throw new StackError('INVALID_TEMPLATE', `template "${template}": ${field} ${message}`, [{ field, message }]);
}

export function parseTemplateMetadata(name: string, yamlText: string, source: string, registry: string): Template {
  let meta: Record<string, any>;
  try {
    meta = YAML.parse(yamlText) ?? {};
  } catch (err) {
    invalid(name, 'template.yml', `is not valid YAML: ${(err as Error).message}`);
  }
  if (typeof meta !== 'object' || Array.isArray(meta)) invalid(name, 'template.yml', 'must be a map');
  const images: Record<string, TemplateImage> = {};
  if (!meta.images || typeof meta.images !== 'object') invalid(name, 'images', 'must map each service to {image, taggable}');
  for (const [svc, spec] of Object.entries<any>(meta.images)) {
    const image = String(spec?.image ?? '').replaceAll('${MAYFLY_REGISTRY}', registry);
    if (!parseImageRef(image)) invalid(name, `images.${svc}.image`, `"${image}" is not a valid image reference`);
    images[svc] = { image, taggable: spec?.taggable !== false };
  }
  const ttlDefault = parseDuration(meta.ttl?.default ?? '4h');
  const ttlMax = parseDuration(meta.ttl?.max ?? '24h');
  if (!ttlDefault) invalid(name, 'ttl.default', 'must be a duration such as "4h"');
  if (!ttlMax) invalid(name, 'ttl.max', 'must be a duration such as "24h"');
  if (ttlDefault > ttlMax) invalid(name, 'ttl.default', 'is longer than ttl.max');
  const entryService = String(meta.entryService ?? '');
  if (!images[entryService]) invalid(name, 'entryService', `"${entryService}" is not one of the services under images`);
  const db = meta.database;
  if (db && !images[db.service]) invalid(name, 'database.service', `"${db.service}" is not one of the services under images`);
  const allowed: string[] = Array.isArray(meta.seeds?.allowed) ? meta.seeds.allowed.map(String) : [];
  const defaultSeed = meta.seeds?.default ? String(meta.seeds.default) : null;
  if (defaultSeed && !allowed.includes(defaultSeed)) allowed.push(defaultSeed);
  if (allowed.length && !db) invalid(name, 'seeds', 'need a database service (database.service)');
  let sleep: Template['sleep'];
  if (meta.sleep !== undefined && meta.sleep !== null) {
    if (typeof meta.sleep !== 'object' || Array.isArray(meta.sleep)) invalid(name, 'sleep', 'must be a map such as { after: 30m }');
    const unknown = Object.keys(meta.sleep).find((k) => k !== 'after');
    if (unknown) invalid(name, `sleep.${unknown}`, 'is not a sleep setting (only "after")');
    const after = parseDuration(meta.sleep.after);
    if (!after) invalid(name, 'sleep.after', 'must be a duration such as "30m" (how long without traffic before the containers stop)');
    sleep = { afterSeconds: after };
  }
  let poolSize = 0;
  if (meta.pool !== undefined && meta.pool !== null) {
    if (typeof meta.pool !== 'object' || Array.isArray(meta.pool)) invalid(name, 'pool', 'must be a map such as { size: 1 }');
    const unknown = Object.keys(meta.pool).find((k) => k !== 'size');
    if (unknown) invalid(name, `pool.${unknown}`, 'is not a pool setting (only "size")');
    const size = Number(meta.pool.size);
    if (!Number.isInteger(size) || size < 0 || size > 20) invalid(name, 'pool.size', `must be a whole number from 0 to 20 (standbys kept started), got "${String(meta.pool.size).slice(0, 40)}"`);
    poolSize = size;
  }
  const access = meta.access ?? DEFAULT_ACCESS;
  if (!(ACCESS_LEVELS as readonly unknown[]).includes(access)) {
    invalid(name, 'access', `must be one of ${ACCESS_LEVELS.join(', ')} (who may open its environments' addresses), got "${String(access).slice(0, 40)}"`);
  }
  return {
    name,
    description: String(meta.description ?? ''),
    entryService,
    ...(db ? { database: { service: String(db.service), name: String(db.name ?? 'postgres'), user: String(db.user ?? 'postgres'), ...(db.volume ? { volume: String(db.volume) } : {}) } } : {}),
    images,
    seeds: { default: defaultSeed, allowed },
    ttl: { defaultSeconds: ttlDefault, maxSeconds: ttlMax },
    ...(sleep ? { sleep } : {}),
    access: access as Access,
    pool: { size: poolSize },
    source,
  };
}

/** Reads templates from a folder: one sub-folder per template. */
export class TemplateCatalog {
  private readonly compiled = new Map<string, HandlebarsTemplateDelegate>();

  private constructor(
    private readonly templates: Map<string, Template>,
    private readonly defaults: Limits,
    private readonly policy: StackPolicy,
  ) {}

  /**
   * Loads and checks every template: each is rendered once with its default images and held to
   * the stack policy, so a template that breaks it stops the process at start, naming template,
   * service and key.
   */
  static async load(dir: string, registry: string, defaults: Limits, policy: StackPolicy = defaultPolicy(registry)): Promise<TemplateCatalog> {
    const templates = new Map<string, Template>();
    const catalog = new TemplateCatalog(templates, defaults, policy);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !TEMPLATE_NAME.test(entry.name)) continue;
      const folder = path.join(dir, entry.name);
      const meta = await readFile(path.join(folder, 'template.yml'), 'utf8');
      const source = await readFile(path.join(folder, 'compose.yml.hbs'), 'utf8');
      const template = parseTemplateMetadata(entry.name, meta, source, registry);
      templates.set(entry.name, template);
      // Render once with sample values: a broken template stops the process at start, not a user.
      catalog.render(entry.name, {
        env: { id: '00000000-0000-0000-0000-000000000000', name: 'check', project: 'check' },
        images: Object.fromEntries(Object.entries(template.images).map(([s, i]) => [s, i.image])),
      });
    }
    return catalog;
  }

  list(): Template[] {
    return [...this.templates.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): Template {
    const t = this.templates.get(name);
    if (!t) throw new NotFoundError('TEMPLATE_NOT_FOUND', `no template named "${name}"; available: ${[...this.templates.keys()].join(', ') || 'none'}`);
    return t;
  }

  has(name: string): boolean {
    return this.templates.has(name);
  }

  /** Why an image reference may not be used on this host (stack policy), or undefined. */
  imageProblem(image: string): string | undefined {
    return imagePolicyProblem(this.policy, image);
  }

  /** Renders and validates a template's stack for one environment, and holds it to the stack policy. */
  render(name: string, input: RenderInput): StackSpec {
    const template = this.get(name);
    let fn = this.compiled.get(name);
    if (!fn) {
      fn = Handlebars.compile(template.source, { strict: true, noEscape: true });
      this.compiled.set(name, fn);
    }
    let text: string;
    try {
      text = fn(quoteAll(input));
    } catch (err) {
      throw new StackError('INVALID_TEMPLATE', `template "${name}" failed to render: ${(err as Error).message}`);
    }
    const stack = parseStack(text, this.defaults);
    for (const svc of Object.keys(template.images)) {
      if (!stack.services.some((s) => s.name === svc)) invalid(name, `images.${svc}`, 'names a service that compose.yml.hbs does not define');
    }
    enforcePolicy(stack, this.policy, name);
    return stack;
  }

  /**
   * The image of every service for a request: the template's defaults, the one `tag` applied to
   * every taggable image, then per-service `images` (a tag, or a whole reference).
   */
  resolveImages(name: string, tag: string | undefined, overrides: Record<string, string> | undefined): Record<string, string> {
    const template = this.get(name);
    const out: Record<string, string> = {};
    for (const [svc, spec] of Object.entries(template.images)) {
      out[svc] = tag && spec.taggable ? withTag(spec.image, tag) : spec.image;
    }
    for (const [svc, value] of Object.entries(overrides ?? {})) {
      const spec = template.images[svc]!;
      out[svc] = value.includes('/') || value.includes(':') || value.includes('@') ? value : withTag(spec.image, value);
    }
    return out;
  }
}
