/**
 * Before an environment is queued: does every image it asks for exist in the registry? A typo in
 * a tag otherwise becomes a failed environment a minute later, at the pull. One function for
 * every door that wants the check (the web form calls it; a REST route may, with one call).
 *
 * A REST route would call assertImagesExist(tags, catalog, req.body) after its validation.
 *
 * Only what the request chose is checked (the one `tag` on each taggable image, and each
 * `images.<service>` given as a tag or a reference), and only on registries RegistryTags can ask.
 * A registry that does not answer does not refuse the request (the worker's pull retries and
 * says why it fails): the check reports it as unchecked instead.
 */
import type { RegistryTags } from '../catalog/registry-tags.js';
import type { TemplateCatalog } from '../catalog/templates.js';
import { InputError, type FieldProblem } from '../domain/errors.js';
import { isValidTag, parseImageRef } from '../domain/image-ref.js';

export interface ImageCheck {
  problems: FieldProblem[];
  /** Why some images were not checked (another registry, or it did not answer). */
  unchecked: string[];
}

/**
 * Problems with the tags a create or PUT body asks for (its `template`, `tag` and `images`), by
 * the request field that chose them. Parts of the body that are not valid are skipped (the
 * request validation reports them), so this can run beside it and both sets of problems shown.
 */
export async function checkImagesExist(tags: RegistryTags, catalog: TemplateCatalog, body: unknown): Promise<ImageCheck> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { template?: unknown; tag?: unknown; images?: unknown };
  if (typeof b.template !== 'string' || !catalog.has(b.template)) return { problems: [], unchecked: [] };
  const meta = catalog.get(b.template);
  const given: Record<string, string> = {};
  if (typeof b.images === 'object' && b.images !== null && !Array.isArray(b.images)) {
    for (const [service, value] of Object.entries(b.images as Record<string, unknown>)) {
      if (!meta.images[service] || typeof value !== 'string') continue;
      if (/[/:@]/.test(value) ? parseImageRef(value) : isValidTag(value)) given[service] = value;
    }
  }
  const tag = isValidTag(b.tag) ? b.tag : undefined;
  const images = catalog.resolveImages(meta.name, tag, given);
  const problems: FieldProblem[] = [];
  const unchecked: string[] = [];
  const byField = new Map<string, string[]>();
  for (const [service, image] of Object.entries(images)) {
    const field = given[service] !== undefined ? `images.${service}` : tag && meta.images[service]?.taggable ? 'tag' : undefined;
    if (!field) continue; // the template's own image: not the requester's choice
    const ref = parseImageRef(image);
    if (!ref?.tag || ref.digest) continue; // a digest names exact content: the pull checks it
    let listing = await tags.tagsOf(image);
    if (listing.checked && !listing.tags.some((t) => t.tag === ref.tag)) listing = await tags.tagsOf(image, { fresh: true });
    if (!listing.checked) { unchecked.push(listing.why); continue; }
    if (listing.tags.some((t) => t.tag === ref.tag)) continue;
    // Say where the tag does exist when it is a tag of another image of this template.
    const elsewhere: string[] = [];
    for (const [other, spec] of Object.entries(meta.images)) {
      const otherRef = parseImageRef(spec.image);
      if (!otherRef || otherRef.repository === ref.repository) continue;
      const l = await tags.tagsOf(spec.image);
      if (l.checked && l.tags.some((t) => t.tag === ref.tag)) elsewhere.push(`${otherRef.repository} (the image of ${other})`);
    }
    const known = listing.tags.slice(0, 8).map((t) => t.tag);
    const message = `${JSON.stringify(ref.tag)} is not a tag of ${ref.repository}${elsewhere.length ? `; it is a tag of ${elsewhere.join(', ')}` : ''}. `
      + (known.length ? `Tags it has, newest first: ${known.join(', ')}${listing.tags.length > known.length ? ', ...' : ''}` : 'It has no tags: push an image first');
    const list = byField.get(field) ?? [];
    if (!list.includes(message)) list.push(message);
    byField.set(field, list);
  }
  for (const [field, messages] of byField) problems.push({ field, message: messages.join('; ') });
  return { problems, unchecked };
}

/** The same, as an InputError (400, each problem naming its field) when a tag does not exist. */
export async function assertImagesExist(tags: RegistryTags, catalog: TemplateCatalog, body: unknown): Promise<ImageCheck> {
  const check = await checkImagesExist(tags, catalog, body);
  if (check.problems.length) throw new InputError(`unknown image tag: ${check.problems.map((p) => p.field).join(', ')}`, check.problems);
  return check;
}
