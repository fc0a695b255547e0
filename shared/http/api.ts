import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  AUDIT_DETAIL_MAX,
  type AuditAction,
  type AuditRecorder,
  type RequestOrigin,
} from '../audit/audit-trail';
import type { CallerAuthenticator } from '../callers/authenticator';
import { authorizeSource } from '../callers/authorization';
import type { Caller } from '../callers/caller';
import type { LastUseRecorder } from '../callers/last-use';
import type { Clock } from '../clock';
import { type Deadline, invocationDeadline, startDeadline } from '../deadline';
import {
  describeError,
  ForbiddenError,
  InvalidRequestError,
  isBrokerError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  UnauthorizedError,
  type UnauthorizedReason,
  UnsupportedMediaTypeError,
  UpstreamUnavailableError,
} from '../errors';
import { maskCredentialShapes } from '../logging/redaction';
import type { StatusReader } from '../use-cases/connection-status';
import type { TicketIssuer } from '../use-cases/issue-ticket';
import type { TokenVendor } from '../use-cases/vend-token';
import { problemFor, problemResponse } from './problem';
import { connectionIdSchema, describeIssues, ticketRequestSchema } from './request-schemas';
import { API_ROUTES, type Route, routePattern } from './routes';
import { JsonBodyError, parseStrictJson } from './strict-json';

export type ApiEvent = APIGatewayProxyEventV2;
export type ApiResult = APIGatewayProxyStructuredResultV2;

/** Request bodies over this size are refused with 413 (docs/design.md "HTTP API (v1)"). */
export const MAX_BODY_BYTES = 16 * 1024;

/** Time kept back from the Lambda's own timeout, to answer with a problem before Lambda stops us. */
const DEADLINE_MARGIN_MS = 1000;

/** What one request's error handling leaves for the access log, in middy's `request.internal`. */
interface ErrorState {
  problemCode?: string;
  errorCode?: string;
  /** Why a caller key was refused (401): the log line says it, the caller is not told. */
  authFailure?: UnauthorizedReason;
  /** The key id of a refused key whose secret matched (disabled, expired). */
  refusedKeyId?: string;
}

/** What an audit record of a refusal can say about the request, as far as it was read. */
interface AuditSubject {
  connection?: string;
  email?: string;
  groupIds?: readonly string[];
  groupNames?: readonly string[];
}

export interface ApiDeps {
  readonly authenticator: CallerAuthenticator;
  readonly tickets: TicketIssuer;
  readonly vendor: TokenVendor;
  readonly status: StatusReader;
  /** Records tickets, vended tokens and refusals of authenticated callers. */
  readonly audit: AuditRecorder;
  /** Notes when each caller key was used, a few writes per key per hour at most. */
  readonly lastUse: LastUseRecorder;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Longest a request may spend on upstream calls. @default 10000 */
  readonly requestBudgetMs?: number;
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

function header(event: ApiEvent, name: string): string | undefined {
  return event.headers?.[name];
}

/** Decodes UTF-8 strictly: any invalid sequence (overlong, surrogate, truncated, stray byte) throws. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** A UTF-16 surrogate without its pair: not a character, so not UTF-8 once encoded. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Body as JSON: size, content type, UTF-8 and syntax (including duplicate keys) checked, in that
 * order. A base64 body (API Gateway's binary form, also used for bytes that are not UTF-8) is
 * decoded strictly; a plain one must be a well-formed string (no lone surrogate, which would
 * otherwise become U+FFFD on the way to bytes).
 */
export function readJsonBody(event: ApiEvent): unknown {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`request body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES}`);
  }
  const contentType = header(event, 'content-type');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new UnsupportedMediaTypeError(
      contentType === undefined
        ? 'Content-Type header is required: application/json'
        : 'Content-Type must be application/json',
    );
  }
  const charset = /;\s*charset=("?)([^";]+)\1/i.exec(contentType ?? '')?.[2]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new UnsupportedMediaTypeError('request body must be UTF-8');
  }
  if (bytes.length === 0) throw new InvalidRequestError('request body is required');
  let text: string;
  try {
    if (!event.isBase64Encoded && LONE_SURROGATE.test(raw)) throw new TypeError('lone surrogate');
    text = strictUtf8.decode(bytes);
  } catch {
    throw new InvalidRequestError('request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (error) {
    if (error instanceof JsonBodyError) throw new InvalidRequestError(error.message.slice(0, 200));
    throw error;
  }
  // JSON can also spell a lone surrogate as an escape (`"\ud800"`): well-formed bytes, no character.
  if (hasLoneSurrogate(value)) {
    throw new InvalidRequestError(
      'request body has an escaped lone surrogate (\\uD800-\\uDFFF): not a character',
    );
  }
  return value;
}

/**
 * Whether any string or key of a parsed JSON value holds a UTF-16 surrogate without its pair.
 * Iterative, so a deeply nested body cannot overflow the stack.
 */
export function hasLoneSurrogate(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') {
      if (LONE_SURROGATE.test(next)) return true;
    } else if (Array.isArray(next)) {
      pending.push(...next);
    } else if (next !== null && typeof next === 'object') {
      for (const [key, member] of Object.entries(next)) {
        if (LONE_SURROGATE.test(key)) return true;
        pending.push(member);
      }
    }
  }
  return false;
}

function connectionParam(event: ApiEvent): string {
  // Path parameters arrive decoded; valid ids need no encoding, so nothing is decoded again here.
  const id = event.pathParameters?.id ?? '';
  const parsed = connectionIdSchema.safeParse(id);
  if (!parsed.success)
    throw new RouteNotFoundError('path: connection id must be lower-case letters, digits, _ and -');
  return parsed.data;
}

/**
 * The request's path as the API's routes see it. Reached through a custom domain's API mapping
 * with a path (`https://api.example.com/broker/v1/tickets`), API Gateway matches the route on what
 * follows the mapping key, but `rawPath` and `requestContext.http.path` still start with it
 * (`/broker/v1/tickets`). The matched route key (`POST /v1/tickets`, `ANY /{proxy+}` with its
 * `proxy` parameter) says how many trailing segments are the API's own; `$default` gives no route,
 * so the path is taken whole.
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-mappings.html
 */
export function routePathOf(event: ApiEvent): string {
  const path = event.requestContext?.http?.path ?? event.rawPath ?? '/';
  const template = /^[A-Z]+ (\/\S*)$/.exec(event.routeKey ?? '')?.[1];
  if (!template) return path;
  const own = template.split('/').filter(Boolean);
  let count = own.length;
  if (own.at(-1)?.endsWith('+}')) {
    const greedy = own.at(-1)?.slice(1, -2) ?? '';
    count += (event.pathParameters?.[greedy] ?? '').split('/').filter(Boolean).length - 1;
  }
  const segments = path.split('/').filter(Boolean);
  const trailingSlash = path.length > 1 && path.endsWith('/') ? '/' : '';
  return `/${segments.slice(Math.max(0, segments.length - count)).join('/')}${trailingSlash}`;
}
/** A route: the event, Lambda's context, and the request's deadline (which http-router passes on). */
type RouteHandler = (event: ApiEvent, context: Context, deadline: Deadline) => Promise<ApiResult>;

/**
 * The broker's HTTP API (docs/design.md "HTTP API (v1)") as one middy handler for API Gateway HTTP API
 * payload v2 events. Routing by @middy/http-router; unknown paths get 404 and known paths with the
 * wrong method 405 (with `Allow`), both as problem+json.
 */
export function createApiHandler(deps: ApiDeps) {
  const budgetMs = deps.requestBudgetMs ?? 10_000;
  const { logger } = deps;

  /**
   * The request's deadline: its budget or Lambda's remaining time, and middy's timeout signal,
   * which is also where the invocation ends for what must still happen after the request's
   * deadline (the audit record of a failure, a lease given back).
   */
  const deadlineOf = (context: Context, timeout: AbortSignal | undefined) =>
    startDeadline(
      invocationDeadline(context, deps.clock, { budgetMs, marginMs: DEADLINE_MARGIN_MS }),
      deps.clock,
      timeout,
      timeout,
    );

  const originOf = (event: ApiEvent, context: Context): RequestOrigin => ({
    requestId: event.requestContext?.requestId ?? context.awsRequestId,
    sourceIp: event.requestContext?.http?.sourceIp ?? '',
  });

  /**
   * Runs `route` for an authenticated caller allowed at the request's source address. A refusal
   * (403) from here on is audited with what `subject` holds by then. Once the source address is
   * allowed, the key's use is noted alongside the work, and awaited before answering (at most one
   * write per key per 5 minutes): a request refused for its source network is no use of the key.
   */
  const asCaller = async (
    event: ApiEvent,
    context: Context,
    deadline: Deadline,
    action: AuditAction,
    route: (caller: Caller, origin: RequestOrigin, subject: AuditSubject) => Promise<ApiResult>,
  ): Promise<ApiResult> => {
    const caller = await deps.authenticator.authenticate(header(event, 'authorization'), deadline.signal);
    logger.appendKeys({ caller: caller.keyId });
    const origin = originOf(event, context);
    const subject: AuditSubject = {};
    let used: Promise<void> | undefined;
    try {
      authorizeSource(caller, origin.sourceIp);
      used = deps.lastUse.touch(caller.keyId, deadline.signal);
      return await route(caller, origin, subject);
    } catch (error) {
      if (error instanceof ForbiddenError) {
        await deps.audit.record(
          {
            at: new Date(deps.clock.now()).toISOString(),
            requestId: origin.requestId,
            action,
            outcome: 'forbidden',
            callerKeyId: caller.keyId,
            callerName: caller.name,
            sourceIp: origin.sourceIp,
            ...subject,
            detail: error.message.slice(0, AUDIT_DETAIL_MAX),
          },
          deadline.signal,
        );
      }
      throw error;
    } finally {
      await used;
    }
  };

  // By the route table's handler names; every route but the public one authenticates its caller.
  const handlers: Record<Route['handler'], RouteHandler> = {
    health: async () => json(200, { status: 'ok' }),
    issueTicket: (event, context, deadline) =>
      asCaller(event, context, deadline, 'ticket', async (caller, origin, subject) => {
        const parsed = ticketRequestSchema.safeParse(readJsonBody(event));
        if (!parsed.success) throw new InvalidRequestError(describeIssues(parsed.error));
        const { connection, email, groupIds, groupNames } = parsed.data;
        Object.assign(subject, { connection, email, groupIds, groupNames });
        const ticket = await deps.tickets.issue(caller, parsed.data, deadline, origin);
        // Goes into the request's one access line (no second line per ticket).
        logger.appendKeys({ connection: ticket.connection, tokenOrigin: ticket.tokenOrigin });
        return json(
          201,
          {
            ticketId: ticket.ticketId,
            redeemUrl: ticket.redeemUrl,
            embedUrl: ticket.embedUrl,
            signOutUrl: ticket.signOutUrl,
            connection: ticket.connection,
            expiresAt: ticket.expiresAt,
          },
          { 'server-timing': `token;desc="${ticket.tokenOrigin}"` },
        );
      }),
    vendToken: (event, context, deadline) =>
      asCaller(event, context, deadline, 'token', async (caller, origin, subject) => {
        subject.connection = connectionParam(event);
        const token = await deps.vendor.vend(caller, subject.connection, deadline, origin);
        const { tokenOrigin, ...body } = token;
        return json(200, body, { 'server-timing': `token;desc="${tokenOrigin}"` });
      }),
    connectionStatus: (event, context, deadline) =>
      asCaller(event, context, deadline, 'status', async (caller, _origin, subject) => {
        subject.connection = connectionParam(event);
        return json(200, await deps.status.read(caller, subject.connection, deadline));
      }),
  };

  const router = httpRouterHandler<ApiEvent, ApiResult>({
    routes: API_ROUTES.map(({ method, path, handler }) => ({
      method,
      path,
      // Typed as Lambda's (event, context, callback); at run time it gets what we pass: the deadline.
      handler: handlers[handler] as unknown as (event: ApiEvent, context: Context) => Promise<ApiResult>,
    })),
    notFoundResponse: ({ path }) => {
      const allowed = API_ROUTES.filter((route) => routePattern(route.path).test(path)).map(
        (route) => route.method,
      );
      // The path goes back in the detail: a caller key pasted into it is not echoed.
      const shown = maskCredentialShapes(path).slice(0, 100);
      if (allowed.length > 0) throw new MethodNotAllowedError(`method not allowed on ${shown}`, allowed);
      throw new RouteNotFoundError(`no such route: ${shown}`);
    },
  });

  return middy<ApiEvent, ApiResult>({
    // A backstop behind the deadline: if work overruns it anyway, the caller still gets a problem.
    // Between the request's deadline and this, what must happen after the work still can
    // (`afterwards` in shared/deadline.ts: middy's signal, aborted here, ends it).
    timeoutEarlyInMillis: DEADLINE_MARGIN_MS / 2,
    timeoutEarlyResponse: () => {
      throw new UpstreamUnavailableError('the request ran out of time', { timeout: true, retryable: false });
    },
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(deps.metrics))
    .use(httpHeaderNormalizer())
    .use(requestLogging(deps))
    .use(problemDetails(deps))
    .handler(async (event: ApiEvent, context: Context, middyOptions?: { signal?: AbortSignal }) => {
      const path = routePathOf(event);
      const routed =
        path === event.requestContext?.http?.path
          ? event
          : {
              ...event,
              requestContext: { ...event.requestContext, http: { ...event.requestContext.http, path } },
            };
      // http-router hands its third argument to the route as is: the request's deadline (it has
      // the `signal` middy's own third argument has).
      const deadline = deadlineOf(context, middyOptions?.signal);
      try {
        return await (router as unknown as RouteHandler)(routed, context, deadline);
      } finally {
        deadline.dispose();
      }
    });
}

/** Request id in every log line, and one access line per request (no bodies, no keys). */
function requestLogging(deps: ApiDeps): middy.MiddlewareObj<ApiEvent, ApiResult> {
  const started = new WeakMap<object, number>();
  const access = (request: middy.Request<ApiEvent, ApiResult>) => {
    const status = request.response?.statusCode ?? 500;
    const { problemCode: code, errorCode, authFailure, refusedKeyId } = request.internal as ErrorState;
    deps.logger.info('request', {
      method: request.event.requestContext?.http?.method,
      path: request.event.rawPath?.slice(0, 200),
      status,
      ...(code ? { code } : {}),
      ...(errorCode && errorCode !== code ? { errorCode } : {}),
      ...(authFailure ? { authFailure } : {}),
      ...(refusedKeyId ? { caller: refusedKeyId } : {}),
      durationMs: deps.clock.now() - (started.get(request) ?? deps.clock.now()),
    });
    if (code) deps.metrics.addMetric(`Errors_${code}`, 'Count', 1);
  };
  return {
    before: (request) => {
      started.set(request, deps.clock.now());
      deps.logger.appendKeys({
        requestId: request.event.requestContext?.requestId ?? request.context.awsRequestId,
      });
    },
    after: access,
    onError: (request) => {
      // problemDetails (registered after, so it runs first on error) has set the response.
      if (request.response) access(request);
    },
  };
}

/** Turns any error into problem+json; logs server-side failures with their cause. */
function problemDetails(deps: ApiDeps): middy.MiddlewareObj<ApiEvent, ApiResult> {
  return {
    onError: (request) => {
      const { error } = request;
      const requestId = request.event.requestContext?.requestId ?? request.context.awsRequestId ?? 'unknown';
      const { status, code } = problemFor(error);
      if (status >= 500) {
        deps.logger.error('request failed', { error: describeError(error) });
      } else if (!isBrokerError(error)) {
        deps.logger.warn('request refused', { error: describeError(error) });
      }
      Object.assign(request.internal, {
        problemCode: code,
        errorCode: isBrokerError(error) ? error.code : 'internal',
        ...(error instanceof UnauthorizedError
          ? { authFailure: error.reason, ...(error.keyId ? { refusedKeyId: error.keyId } : {}) }
          : {}),
      } satisfies ErrorState);
      request.response = problemResponse(error, requestId);
    },
  };
}
