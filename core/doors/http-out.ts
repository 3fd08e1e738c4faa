/**
 * Outbound HTTP of the notifier: always with a timeout, never following redirects, and with an
 * error that says what answered (or did not).
 */
export class OutboundError extends Error {
  constructor(message: string, readonly status?: number, readonly retryable = true) {
    super(message);
    this.name = 'OutboundError';
  }
}

export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'mayfly-notifier', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    throw new OutboundError(`POST ${safeUrl(url)} failed: ${why}`);
  }
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status >= 300) {
    // 4xx other than 408/429 will not get better by retrying (but we still retry a few times: receivers deploy too).
    throw new OutboundError(`POST ${safeUrl(url)} answered ${res.status}: ${text.slice(0, 200)}`, res.status);
  }
  return { status: res.status, text };
}

/** The URL without its query and credentials, for logs and errors. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
