/**
 * What a "not a tag" error may name. Other test files push tags of their own (newer than pr-1)
 * into the same local registry, and the error lists only the newest few, so pr-1 is named unless
 * the list was cut short; every tag named must be one the registry has.
 */
import assert from 'node:assert/strict';

export async function assertTagsNamedExist(said: string, repository = 'mayfly/shop', expected = 'pr-1'): Promise<void> {
  assert.match(said, /Tags it has, newest first: \S/, said);
  const listed = said.replace(/^.*newest first: /s, '').replace(/, \.\.\.\s*$/, '').split(', ').map((t) => t.trim());
  const { tags } = await (await fetch(`http://127.0.0.1:5000/v2/${repository}/tags/list`)).json() as { tags: string[] };
  assert.ok(listed.every((t) => tags.includes(t)), `every tag named exists: ${said}`);
  assert.ok(listed.includes(expected) || /, \.\.\.\s*$/.test(said), `${expected} is named, or the list was cut: ${said}`);
}
