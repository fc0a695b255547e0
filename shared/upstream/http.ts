import type { Clock } from '../clock';
import { loggableText, UpstreamRejectedError, UpstreamUnavailableError } from '../errors';
import type { Log } from '../logging/ports';
import { parseRetryAfter } from '../retry-after';
import {
  MAX_UPSTREAM_BODY_BYTES,
  nodeFetch,
  UpstreamBodyTooLargeError,
  UpstreamResponse,
} from './node-fetch';

export type { UpstreamResponse } from './node-fetch';

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
  /** Where a refused answer is reported (endpoint, host, sizes). */
  readonly log?: Log;
  /** Largest answer body read. @default MAX_UPSTREAM_BODY_BYTES (64 KiB) */
  readonly maxBodyBytes?: number;
}

/**
 * One HTTP call to an upstream with a timeout and a cap on the answer body. Turns what is worth
 * retrying (network errors, timeouts, 5xx, 429) into a retryable {@link UpstreamUnavailableError};
 * an answer body over the cap into {@link UpstreamRejectedError} (502), logged with the endpoint
 * and the size seen; returns every other response, its body in memory, for the caller to interpret.
 */
export async function upstreamFetch(
  url: string,
  init: RequestInit,
  options: UpstreamCallOptions,
): Promise<UpstreamResponse> {
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
  // A timer cleared when the call ends, not AbortSignal.timeout: that one outlives every call that
  // answered in time and then builds a DOMException when it fires, CPU each ticket paid for nothing.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, Math.ceil(budget));
  const follow = () => controller.abort(init.signal?.reason);
  init.signal?.addEventListener('abort', follow, { once: true });
  const signal = controller.signal;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_UPSTREAM_BODY_BYTES;
  let response: UpstreamResponse;
  try {
    response = options.fetch
      ? await capBody(await options.fetch(url, { ...init, signal }), maxBodyBytes)
      : await nodeFetch(url, { ...init, signal }, maxBodyBytes);
  } catch (error) {
    if (error instanceof UpstreamBodyTooLargeError) throw bodyTooLarge(url, error, options);
    if (timedOut) {
      throw new UpstreamUnavailableError(`${options.what}: no answer within ${Math.ceil(budget)} ms`, {
        timeout: true,
        cause: error,
      });
    }
    throw new UpstreamUnavailableError(`${options.what}: network error (${networkErrorCode(error)})`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    init.signal?.removeEventListener('abort', follow);
  }
  if (response.status >= 500 || response.status === 429) {
    throw new UpstreamUnavailableError(`${options.what}: upstream answered ${response.status}`, {
      upstreamStatus: response.status,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), options.clock.now()),
      timeout: response.status === 504,
    });
  }
  return response;
}

function bodyTooLarge(url: string, error: UpstreamBodyTooLargeError, options: UpstreamCallOptions): Error {
  options.log?.error('upstream answer too large: refused', {
    endpoint: options.what,
    host: hostOf(url),
    upstreamStatus: error.status,
    bytesRead: error.bytesRead,
    ...(error.declaredBytes !== undefined ? { declaredBytes: error.declaredBytes } : {}),
    limitBytes: error.limitBytes,
  });
  const message = `${options.what}: ${error.message}`;
  // A 5xx or 429 stays what it was (worth another attempt); any other answer is unusable.
  if (error.status >= 500 || error.status === 429) {
    return new UpstreamUnavailableError(message, { upstreamStatus: error.status, cause: error });
  }
  return new UpstreamRejectedError(message, { upstreamStatus: error.status, cause: error });
}

/**
 * What an operator needs to see when an upstream answers something unusable: the status, the
 * content type and the configured URL's host (never its path, query or a token), and what to
 * check. Returned as log attributes.
 */
export function unexpectedAnswer(
  response: Pick<UpstreamResponse, 'status' | 'headers'>,
  configuredUrl: string,
  check: string,
): Record<string, unknown> {
  return {
    upstreamStatus: response.status,
    contentType: loggableText(response.headers.get('content-type') ?? '(none)', 100),
    host: hostOf(configuredUrl),
    check,
  };
}

/** The host of a configured URL, for log lines (never its path or query). */
export function hostOf(url: string | URL): string {
  try {
    return new URL(url).host;
  } catch {
    return 'unparsable URL';
  }
}

/**
 * The same cap for an injected `fetch` (whatever a test or oauth4webapi's caller passes): reads
 * the body stream up to the cap, cancels it past that.
 */
async function capBody(response: Response, maxBodyBytes: number): Promise<UpstreamResponse> {
  const announced = response.headers.get('content-length');
  const declared = announced === null ? undefined : Number(announced);
  if (declared !== undefined && Number.isFinite(declared) && declared > maxBodyBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new UpstreamBodyTooLargeError(response.status, 0, declared, maxBodyBytes);
  }
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  if (!response.body) return new UpstreamResponse(response.status, response.statusText, headers, null);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBodyBytes) {
      await reader.cancel().catch(() => undefined);
      throw new UpstreamBodyTooLargeError(response.status, size, declared, maxBodyBytes);
    }
    chunks.push(value);
  }
  return new UpstreamResponse(response.status, response.statusText, headers, Buffer.concat(chunks));
}

function networkErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'unknown';
}

/** Reads a JSON object body; `undefined` when it is not JSON or not an object. */
export async function readJsonObject(response: {
  text(): Promise<string>;
}): Promise<Record<string, unknown> | undefined> {
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
