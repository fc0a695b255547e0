import { STATUS_CODES } from 'node:http';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  BrokerError,
  type ErrorCode,
  MethodNotAllowedError,
  type ProblemCode,
  UpstreamUnavailableError,
} from '../errors';
import { retryAfterHeaderSeconds } from '../retry-after';

/**
 * The one map from an error's code to what the caller sees: the public problem code and the HTTP
 * status. Finer codes (a wrong method, a refused client secret, a timeout) stay apart in logs and
 * fold into the public code here.
 */
const PROBLEMS: Record<ErrorCode, { readonly code: ProblemCode; readonly status: number }> = {
  invalid_request: { code: 'invalid_request', status: 400 },
  route_not_found: { code: 'invalid_request', status: 404 },
  method_not_allowed: { code: 'invalid_request', status: 405 },
  unsupported_media_type: { code: 'invalid_request', status: 415 },
  unauthorized: { code: 'unauthorized', status: 401 },
  forbidden: { code: 'forbidden', status: 403 },
  unknown_connection: { code: 'unknown_connection', status: 404 },
  payload_too_large: { code: 'payload_too_large', status: 413 },
  upstream_rejected: { code: 'upstream_rejected', status: 502 },
  token_rejected: { code: 'upstream_rejected', status: 502 },
  invalid_client: { code: 'upstream_rejected', status: 502 },
  invalid_grant: { code: 'upstream_rejected', status: 502 },
  upstream_unavailable: { code: 'upstream_unavailable', status: 503 },
  upstream_timeout: { code: 'upstream_unavailable', status: 504 },
  store_unavailable: { code: 'upstream_unavailable', status: 503 },
  secrets_unavailable: { code: 'upstream_unavailable', status: 503 },
  lookup_throttled: { code: 'upstream_unavailable', status: 503 },
  misconfigured: { code: 'misconfigured', status: 500 },
  internal: { code: 'internal', status: 500 },
};

/**
 * Every code the API can answer with (docs/openapi.yaml lists the same), for the dashboard and
 * the tests. Marked pure: the functions never read it, so their bundles leave it out.
 */
export const PROBLEM_CODES: readonly ProblemCode[] = /* @__PURE__ */ (() => [
  ...new Set(Object.values(PROBLEMS).map((problem) => problem.code)),
])();

/**
 * Problem types resolve to nothing by design: RFC 9457 4.2.1's `about:blank`, with the stable `code`
 * member saying which problem it is. No URI on a domain someone else could register.
 */
export const PROBLEM_TYPE = 'about:blank';

/** Above 499 the caller gets one of these fixed sentences, never the error's own message. */
const GENERIC_DETAIL: Partial<Record<ErrorCode, string>> = {
  store_unavailable: "The broker's storage is unavailable right now; retry later.",
  secrets_unavailable: "The broker's secret store is unavailable right now; retry later.",
  lookup_throttled: 'Caller keys cannot be verified right now; retry later.',
  upstream_rejected: 'The partner service refused the request or answered something unusable.',
  upstream_unavailable: 'The partner service is unavailable right now; retry later.',
  misconfigured: 'The connection is misconfigured; the operators have been alerted.',
  internal: 'An unexpected error occurred.',
};

/**
 * RFC 9457 problem details, with the broker's `code` and the request id as extension members.
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */
export interface Problem {
  readonly type: string;
  /** The status's reason phrase, as RFC 9457 asks for `about:blank`. */
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
  readonly requestId: string;
}

export interface ProblemSummary {
  readonly status: number;
  readonly code: ProblemCode;
  readonly detail: string;
  /** `Retry-After`: whole seconds from 1 to 120, when there is a wait to name. */
  readonly retryAfterSeconds?: number;
  /** `Allow`, for a method that is not allowed. */
  readonly allow?: string;
}

/** The public code of any thrown value (`internal` for anything that is not a domain error). */
export function problemCodeOf(error: unknown): ProblemCode {
  return error instanceof BrokerError ? PROBLEMS[error.code].code : 'internal';
}

/**
 * What the caller is told about an error. Below 500 the detail is the error's own (secret-free)
 * message; at 500 and above it is a fixed sentence, so internals never reach a caller.
 */
export function problemFor(error: unknown): ProblemSummary {
  if (!(error instanceof BrokerError))
    return { status: 500, code: 'internal', detail: GENERIC_DETAIL.internal ?? '' };
  const { code, status } = PROBLEMS[error.code];
  const detail =
    status >= 500
      ? (GENERIC_DETAIL[error.code] ?? GENERIC_DETAIL[code] ?? GENERIC_DETAIL.internal ?? '')
      : error.message;
  const retryAfterSeconds = retryAfterHeaderSeconds(
    error instanceof UpstreamUnavailableError ? error.retryAfterMs : undefined,
  );
  return {
    status,
    code,
    detail,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    ...(error instanceof MethodNotAllowedError ? { allow: error.allow.join(', ') } : {}),
  };
}

/** The problem+json response for an error. */
export function problemResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  const { status, code, detail, retryAfterSeconds, allow } = problemFor(error);
  const body: Problem = {
    type: PROBLEM_TYPE,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    requestId,
  };
  return {
    statusCode: status,
    headers: {
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...(status === 401 ? { 'www-authenticate': 'Bearer realm="ticket-broker"' } : {}),
      ...(retryAfterSeconds !== undefined ? { 'retry-after': String(retryAfterSeconds) } : {}),
      ...(allow !== undefined ? { allow } : {}),
    },
    body: JSON.stringify(body),
  };
}
