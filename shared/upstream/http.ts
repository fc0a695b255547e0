import type { Clock } from '../clock';
import { UpstreamUnavailableError } from '../errors';
import { nodeFetch } from './node-fetch';

/** The fetch the upstream clients use; injectable so a test can count or break requests. */
export type FetchFn = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface UpstreamCallOptions {
  /** What is being called, for error messages (never a URL with secrets). */
  readonly what: string;
  readonly timeoutMs: number;
  /** Epoch ms; the call is cut at whichever comes first, this or `timeoutMs`. */
  readonly deadline?: number;
  readonly clock: Clock;
  readonly fetch?: FetchFn;
}

/**
 * Parses `Retry-After` (delay-seconds or HTTP-date) into milliseconds from now.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * One HTTP call to an upstream with a timeout. Turns what is worth retrying (network errors,
 * timeouts, 5xx, 429) into a retryable {@link UpstreamUnavailableError}; returns every other
 * response for the caller to interpret.
 */
export async function upstreamFetch(
  url: string,
  init: RequestInit,
  options: UpstreamCallOptions,
): Promise<Response> {
  const now = options.clock.now();
  const budget = Math.min(
    options.timeoutMs,
    options.deadline === undefined ? Infinity : options.deadline - now,
  );
  if (budget <= 0) {
    throw new UpstreamUnavailableError(`${options.what}: no time left for the call`, {
      timeout: true,
      retryable: false,
    });
  }
  const timeout = AbortSignal.timeout(Math.ceil(budget));
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await (options.fetch ?? nodeFetch)(url, { ...init, signal });
  } catch (error) {
    if (timeout.aborted) {
      throw new UpstreamUnavailableError(`${options.what}: no answer within ${Math.ceil(budget)} ms`, {
        timeout: true,
        cause: error,
      });
    }
    throw new UpstreamUnavailableError(`${options.what}: network error (${networkErrorCode(error)})`, {
      cause: error,
    });
  }
  if (response.status >= 500 || response.status === 429) {
    await response.body?.cancel().catch(() => undefined);
    throw new UpstreamUnavailableError(`${options.what}: upstream answered ${response.status}`, {
      upstreamStatus: response.status,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), options.clock.now()),
      timeout: response.status === 504,
    });
  }
  return response;
}

function networkErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'unknown';
}

/** Reads a JSON object body; `undefined` when it is not JSON or not an object. */
export async function readJsonObject(response: Response): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
