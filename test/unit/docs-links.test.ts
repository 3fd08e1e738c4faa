/**
 * Every relative link in README.md, CONTRIBUTING.md and docs/**\/*.md resolves: the file (or
 * folder) exists, and a `#anchor` names a heading of the target Markdown file, slugged as GitHub
 * slugs it. Links to other sites (http:, https:, mailto:) are not followed.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../../core/config/config.js';

const root = projectRoot();

/** The Markdown without fenced code blocks and inline code, where a `[x](y)` is not a link. */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/(`+)[^`\n][\s\S]*?\1/g, '');
}

/** GitHub's heading anchor: lowercase, punctuation dropped (not `-` or `_`), spaces to `-`. */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link in a heading counts by its text
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a Markdown file offers: its headings (duplicates get -1, -2...) and <a id/name>. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const noFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of noFences.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

/** The link targets of a Markdown file: inline links and images, and reference definitions. */
export function linksOf(markdown: string): string[] {
  const text = prose(markdown);
  const links: string[] = [];
  for (const m of text.matchAll(/!?\[(?:[^\]\n]|\][^(\n])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push(m[1]!);
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)) links.push(m[1]!);
  return links;
}

/** What is wrong with the links of `file` (a path relative to `base`), as "file: target (why)". */
export function brokenLinks(base: string, file: string, read: (p: string) => string = (p) => readFileSync(p, 'utf8')): string[] {
  const broken: string[] = [];
  const absolute = path.join(base, file);
  for (const target of linksOf(read(absolute))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // another site (http:, https:, mailto:)
    const hash = target.indexOf('#');
    const linkPath = decodeURI(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved = linkPath === '' ? absolute : path.resolve(path.dirname(absolute), linkPath);
    if (!resolved.startsWith(base + path.sep) && resolved !== base) { broken.push(`${file}: ${target} (outside the repository)`); continue; }
    if (!existsSync(resolved)) { broken.push(`${file}: ${target} (no such file)`); continue; }
    if (anchor === undefined) continue;
    if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) { broken.push(`${file}: ${target} (an anchor into a file that is not Markdown)`); continue; }
    if (!anchorsOf(read(resolved)).has(anchor)) broken.push(`${file}: ${target} (no heading "#${anchor}" in ${path.relative(base, resolved)})`);
  }
  return broken;
}

function markdownUnder(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.md'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

const DOCUMENTS = ['README.md', 'CONTRIBUTING.md', ...markdownUnder('docs')];

describe('links in the documentation', () => {
  it('when the documents are listed, then README.md, CONTRIBUTING.md and docs/ are all there', () => {
    for (const file of ['README.md', 'CONTRIBUTING.md', 'docs/README.md', 'docs/architecture.md', 'docs/configuration.md', 'docs/limitations.md']) {
      assert.ok(DOCUMENTS.includes(file) && existsSync(path.join(root, file)), `${file} exists`);
    }
    const links = DOCUMENTS.flatMap((f) => linksOf(readFileSync(path.join(root, f), 'utf8')));
    assert.ok(links.filter((l) => l.includes('#')).length > 20, `suspiciously few anchored links found (${links.length} links): is the parser broken?`);
  });

  it('when a document links to a file or an anchor in this repository, then it exists', () => {
    assert.deepEqual(DOCUMENTS.flatMap((f) => brokenLinks(root, f)), []);
  });

  it('when Markdown has code, duplicate headings or reference links, then links and anchors are read as GitHub reads them', () => {
    const markdown = [
      '# Title', '## Two words, and `code`', '## Two words, and `code`', '```', '[fenced](nowhere.md)', '# not a heading', '```',
      'See [b](b.md#present), [self](#two-words-and-code-1), ![img](pic.png) and [site](https://example.com/x#y),',
      '`[inline](nowhere.md)`.', '', '[ref]: b.md#also-present',
    ].join('\n');
    assert.deepEqual(linksOf(markdown), ['b.md#present', '#two-words-and-code-1', 'pic.png', 'https://example.com/x#y', 'b.md#also-present']);
    assert.deepEqual([...anchorsOf(markdown)], ['title', 'two-words-and-code', 'two-words-and-code-1']);
    assert.equal(slug('Limits (today): one host — for now'), 'limits-today-one-host--for-now');
  });

  it('when a real document gets a broken link, then brokenLinks names it', () => {
    const real = 'README.md';
    const text = `${readFileSync(path.join(root, real), 'utf8')}\n[x](docs/no-such-page.md) [y](docs/configuration.md#no-such-heading)\n`;
    const broken = brokenLinks(root, real, (p) => (p === path.join(root, real) ? text : readFileSync(p, 'utf8')));
    assert.deepEqual(broken, [
      'README.md: docs/no-such-page.md (no such file)',
      'README.md: docs/configuration.md#no-such-heading (no heading "#no-such-heading" in docs/configuration.md)',
    ]);
  });
});
