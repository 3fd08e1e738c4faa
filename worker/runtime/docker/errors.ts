/** Docker errors carry the engine's HTTP status: branch on that, never on message text. */
export function dockerStatus(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (err: unknown) => dockerStatus(err) === 404;
export const isConflict = (err: unknown) => dockerStatus(err) === 409;

/** The engine's own explanation, without dockerode's "(HTTP code 404) unexpected - " prefix. */
export function dockerMessage(err: unknown): string {
  const json = (err as { json?: { message?: string } })?.json;
  if (json && typeof json.message === 'string') return json.message;
  return err instanceof Error ? err.message : String(err);
}
