import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { BrokerError, InvalidRequestError, type ProblemCode, UpstreamUnavailableError } from '../errors';

/**
 * The one place that maps errors to HTTP: RFC 9457 problem details with a stable `code`.
 * Below 500 the detail is the error's own (secret-free) message; at 500 and above it is a fixed
 * sentence, so internals never reach a caller.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */
const STATUS: Record<ProblemCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  unknown_connection: 404,
  payload_too_large: 413,
  upstream_rejected: 502,
  upstream_unavailable: 503,
  misconfigured: 500,
  internal: 500,
};

/** Every code the API can answer with (docs/openapi.yaml lists the same). */
export const PROBLEM_CODES = Object.keys(STATUS) as ProblemCode[];

const TITLES: Record<ProblemCode, string> = {
  invalid_request: 'Invalid request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  unknown_connection: 'Unknown connection',
  payload_too_large: 'Payload too large',
  upstream_rejected: 'Upstream rejected the request',
  upstream_unavailable: 'Upstream unavailable',
  misconfigured: 'Connection misconfigured',
  internal: 'Internal error',
};

const GENERIC_DETAIL: Partial<Record<ProblemCode, string>> = {
  upstream_rejected: 'The partner service refused the request or answered something unusable.',
  upstream_unavailable: 'The partner service is unavailable right now; retry later.',
  misconfigured: 'The connection is misconfigured; the operators have been alerted.',
  internal: 'An unexpected error occurred.',
};

export const PROBLEM_TYPE_BASE = 'https://ticket-broker.dev/problems/';

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
  readonly requestId: string;
}

export function problemFor(error: unknown): {
  status: number;
  code: ProblemCode;
  detail: string;
  retryAfterSeconds?: number;
} {
  if (!(error instanceof BrokerError))
    return { status: 500, code: 'internal', detail: GENERIC_DETAIL.internal ?? '' };
  let status = STATUS[error.code];
  if (error instanceof InvalidRequestError) status = error.status;
  let retryAfterSeconds: number | undefined;
  if (error instanceof UpstreamUnavailableError) {
    if (error.timeout) status = 504;
    if (error.retryAfterMs !== undefined)
      retryAfterSeconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
  }
  const detail =
    status >= 500 ? (GENERIC_DETAIL[error.code] ?? GENERIC_DETAIL.internal ?? '') : error.message;
  return {
    status,
    code: error.code,
    detail,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  };
}

export function problemResponse(
  error: unknown,
  requestId: string,
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  const { status, code, detail, retryAfterSeconds } = problemFor(error);
  const body: Problem = {
    type: `${PROBLEM_TYPE_BASE}${code}`,
    title: TITLES[code],
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
      ...extraHeaders,
    },
    body: JSON.stringify(body),
  };
}
