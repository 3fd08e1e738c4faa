/**
 * Image references by the registry's reference grammar (github.com/distribution/reference):
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port]
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := "sha256:" 64 lower-case hex digits
 * The grammar allows other algorithms and hex of 32 or more in either case, but Docker's engine
 * and registry take only a canonical sha256 digest: anything else would be accepted here and
 * refused at the pull ("invalid checksum digest length", "invalid tag format"), so it is refused
 * here, before an environment is recorded.
 */
const alnum = '[a-z0-9]+';
const separator = '(?:[_.]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domain = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = 'sha256:[0-9a-f]{64}';

export const TAG_PATTERN = new RegExp(`^${tag}$`);
export const DIGEST_PATTERN = new RegExp(`^${digest}$`);
const REFERENCE = new RegExp(`^((?:${domain}/)?${pathComponent}(?:/${pathComponent})*)(?::(${tag}))?(?:@(${digest}))?$`);
const NAME_MAX = 255;

export interface ImageRef {
  /** Repository including its registry host, e.g. "127.0.0.1:5000/mayfly/shop". */
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Why the digest part of a reference (after "@") is refused, or undefined when there is none or
 * it is canonical: for a message that says what a digest must look like.
 */
export function digestProblem(value: string): string | undefined {
  const at = value.indexOf('@');
  if (at < 0) return undefined;
  const d = value.slice(at + 1);
  if (DIGEST_PATTERN.test(d)) return undefined;
  return `its digest ${JSON.stringify(d.length > 80 ? `${d.slice(0, 80)}...` : d)} must be "sha256:" followed by exactly 64 lower-case hex digits`;
}

export function isValidTag(value: unknown): value is string {
  return typeof value === 'string' && TAG_PATTERN.test(value);
}

/** Parses an image reference, or returns undefined when it does not follow the grammar. */
export function parseImageRef(value: unknown): ImageRef | undefined {
  if (typeof value !== 'string') return undefined;
  const m = REFERENCE.exec(value);
  if (!m) return undefined;
  const [, repository, t, d] = m;
  if (!repository || repository.length > NAME_MAX) return undefined;
  // As Docker normalises: a first component is a registry host only when it has a "." or ":" or
  // is "localhost"; otherwise it is a path component, and those are lowercase.
  const first = repository.split('/')[0]!;
  const isHost = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (!isHost && !new RegExp(`^${pathComponent}$`).test(first)) return undefined;
  return { repository, ...(t ? { tag: t } : {}), ...(d ? { digest: d } : {}) };
}

/** The reference with its tag replaced (or added); a digest is dropped, since it pins another image. */
export function withTag(repositoryOrRef: string, newTag: string): string {
  const ref = parseImageRef(repositoryOrRef);
  if (!ref) throw new Error(`not an image reference: ${repositoryOrRef}`);
  return `${ref.repository}:${newTag}`;
}
