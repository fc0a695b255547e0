/**
 * Domain errors. Each carries a stable `code` and no HTTP status: `shared/http/problem.ts` is the one
 * place that maps a code to the public problem code and the status (docs/design.md "HTTP API (v1)").
 * Messages of these errors never contain a secret, a token or a ticket: they may be logged as they are.
 */

import { boundedRetryAfterMs } from './retry-after';

/** The codes callers see in problem bodies. */
export type ProblemCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'unknown_connection'
  | 'payload_too_large'
  | 'upstream_rejected'
  | 'upstream_unavailable'
  | 'misconfigured'
  | 'internal';

/**
 * The codes errors carry: every public code, plus finer ones that logs and metrics keep apart
 * (a refused client secret is not a refused grant) and that map to a public code.
 */
export type ErrorCode =
  | ProblemCode
  | 'route_not_found'
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'token_rejected'
  | 'invalid_client'
  | 'invalid_grant'
  | 'upstream_timeout'
  | 'store_unavailable'
  | 'secrets_unavailable'
  | 'lookup_throttled';

export interface BrokerErrorOptions {
  cause?: unknown;
}

/** Base of every error the broker raises on purpose. */
export abstract class BrokerError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: BrokerErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** The caller's request is malformed; the message names what is wrong. */
export class InvalidRequestError extends BrokerError {
  override readonly name = 'InvalidRequestError';
  readonly code = 'invalid_request';
}

/** No route serves this path (also a path parameter that cannot name anything). */
export class RouteNotFoundError extends BrokerError {
  override readonly name = 'RouteNotFoundError';
  readonly code = 'route_not_found';
}

/** The path exists, the method does not; `allow` lists the methods that do. */
export class MethodNotAllowedError extends BrokerError {
  override readonly name = 'MethodNotAllowedError';
  readonly code = 'method_not_allowed';
  constructor(
    message: string,
    readonly allow: readonly string[],
  ) {
    super(message);
  }
}

/** The body is not `application/json` in UTF-8. */
export class UnsupportedMediaTypeError extends BrokerError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'unsupported_media_type';
}

export class PayloadTooLargeError extends BrokerError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = 'payload_too_large';
}

/**
 * Why a caller key was refused, for the log line only: the caller sees the same 401 for a key that
 * is unknown, wrong or expired. `invalid` never says which part of the key was wrong.
 */
export type UnauthorizedReason = 'missing' | 'malformed' | 'invalid' | 'disabled' | 'expired';

export interface UnauthorizedOptions extends BrokerErrorOptions {
  /** @default 'invalid' */
  reason?: UnauthorizedReason;
  /** The key id, only once the key's secret has matched (a disabled or expired key). */
  keyId?: string;
}

export class UnauthorizedError extends BrokerError {
  override readonly name = 'UnauthorizedError';
  readonly code = 'unauthorized';
  readonly reason: UnauthorizedReason;
  readonly keyId: string | undefined;
  constructor(message: string, options: UnauthorizedOptions = {}) {
    super(message, options);
    this.reason = options.reason ?? 'invalid';
    this.keyId = options.keyId;
  }
}

export class ForbiddenError extends BrokerError {
  override readonly name = 'ForbiddenError';
  readonly code = 'forbidden';
}

export class UnknownConnectionError extends BrokerError {
  override readonly name = 'UnknownConnectionError';
  readonly code = 'unknown_connection';
  constructor(readonly connection: string) {
    super(`unknown connection "${connection}"`);
  }
}

/** The broker's own configuration or the partner's view of our credentials is wrong: an operator must act. */
export class ConfigurationError extends BrokerError {
  override readonly name = 'ConfigurationError';
  readonly code = 'misconfigured';
}

export interface UpstreamUnavailableOptions extends BrokerErrorOptions {
  /** Worth another attempt (network error, timeout, 5xx, 429, `temporarily_unavailable`). */
  retryable?: boolean;
  /** What the upstream asked for in `Retry-After`, in milliseconds (bounded: see `retry-after.ts`). */
  retryAfterMs?: number;
  /** The upstream did not answer in time (code `upstream_timeout`). */
  timeout?: boolean;
  upstreamStatus?: number;
}

/** The upstream could not serve us now; a later attempt may work. */
export class UpstreamUnavailableError extends BrokerError {
  override readonly name: string = 'UpstreamUnavailableError';
  readonly code:
    | 'upstream_unavailable'
    | 'upstream_timeout'
    | 'store_unavailable'
    | 'secrets_unavailable'
    | 'lookup_throttled';
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly timeout: boolean;
  readonly upstreamStatus: number | undefined;
  constructor(message: string, options: UpstreamUnavailableOptions = {}) {
    super(message, options);
    this.retryable = options.retryable ?? true;
    // Whole seconds, 0 to 120, or none: whatever a producer passes, nothing downstream sees 1e+24.
    this.retryAfterMs = boundedRetryAfterMs(options.retryAfterMs);
    this.timeout = options.timeout ?? false;
    this.code = this.timeout ? 'upstream_timeout' : 'upstream_unavailable';
    this.upstreamStatus = options.upstreamStatus;
  }
}

/**
 * The broker's own table (DynamoDB) cannot be reached, and what it holds is needed now (a caller
 * record past its outage bound, a connection's status). Public code `upstream_unavailable`, with a
 * detail that names the broker's storage, not the partner.
 */
export class StoreUnavailableError extends UpstreamUnavailableError {
  override readonly name = 'StoreUnavailableError';
  override readonly code = 'store_unavailable';
}

/**
 * Secrets Manager cannot be reached and no client secret is cached: a token cannot be acquired
 * now. Public code `upstream_unavailable`; its own code tells logs and `/status` it is the broker's
 * secret store, not the partner.
 */
export class SecretStoreUnavailableError extends UpstreamUnavailableError {
  override readonly name = 'SecretStoreUnavailableError';
  override readonly code = 'secrets_unavailable';
}

/**
 * A caller key that this container has never verified cannot be looked up now: table reads for
 * unverified key ids are rationed, so traffic with made-up keys cannot turn into a table read each.
 * Public code `upstream_unavailable` (503, `Retry-After`): the key may be valid.
 */
export class CallerLookupThrottledError extends UpstreamUnavailableError {
  override readonly name = 'CallerLookupThrottledError';
  override readonly code = 'lookup_throttled';
}

export interface UpstreamRejectedOptions extends BrokerErrorOptions {
  upstreamStatus?: number;
  /** The RFC 6749 5.2 `error` value, when the upstream sent one. */
  oauthError?: string;
}

/** The upstream refused or answered something unusable, and retrying will not change that. */
export class UpstreamRejectedError extends BrokerError {
  override readonly name: string = 'UpstreamRejectedError';
  readonly code: 'upstream_rejected' | 'token_rejected' | 'invalid_client' | 'invalid_grant' =
    'upstream_rejected';
  readonly upstreamStatus: number | undefined;
  readonly oauthError: string | undefined;
  constructor(message: string, options: UpstreamRejectedOptions = {}) {
    super(message, options);
    this.upstreamStatus = options.upstreamStatus;
    this.oauthError = options.oauthError;
  }
}

/** The upstream rejected an access token we presented (401): the token must be dropped and renewed. */
export class UpstreamTokenRejectedError extends UpstreamRejectedError {
  override readonly name = 'UpstreamTokenRejectedError';
  override readonly code = 'token_rejected';
}

/** The token endpoint rejected our client credentials (`invalid_client`, or Astrato's 401). */
export class InvalidClientError extends UpstreamRejectedError {
  override readonly name = 'InvalidClientError';
  override readonly code = 'invalid_client';
}

/** The refresh token is not usable any more (`invalid_grant`): fall back to client credentials. */
export class InvalidGrantError extends UpstreamRejectedError {
  override readonly name = 'InvalidGrantError';
  override readonly code = 'invalid_grant';
}

/** A bug or an unexpected state: the caller only ever sees a generic 500. */
export class InternalError extends BrokerError {
  override readonly name = 'InternalError';
  readonly code = 'internal';
}

export function isBrokerError(error: unknown): error is BrokerError {
  return error instanceof BrokerError;
}

/** Longest upstream-supplied text (an OAuth `error_description`, a content type) a log line carries. */
export const LOGGED_UPSTREAM_TEXT_MAX = 200;

/** Longest error message a log line carries: ours are short; a longer one quotes someone else's text. */
export const LOGGED_MESSAGE_MAX = 500;

/**
 * Text that came from outside (an upstream's answer) made fit for a log line: control characters
 * replaced, and cut at `max` characters with a note of how much was left out, so that a hostile or
 * broken upstream cannot fill the logs (and the bill) with one answer.
 */
export function loggableText(text: string, max: number = LOGGED_UPSTREAM_TEXT_MAX): string {
  const printable = text.replace(/\p{Cc}/gu, '?');
  if (printable.length <= max) return printable;
  return `${printable.slice(0, max)}... (${printable.length - max} more characters)`;
}

/** A short, secret-free description of any thrown value, for log lines. */
export function describeError(error: unknown): { name: string; code?: string; message: string } {
  if (error instanceof BrokerError)
    return { name: error.name, code: error.code, message: loggableText(error.message, LOGGED_MESSAGE_MAX) };
  if (error instanceof Error)
    return { name: loggableText(error.name, 100), message: loggableText(error.message, LOGGED_MESSAGE_MAX) };
  return { name: typeof error, message: 'non-error value thrown' };
}
