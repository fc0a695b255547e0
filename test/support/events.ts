import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { lambdaContext as localLambdaContext } from '../../local/lambda-context';
import sample from '../fixtures/apigw-http-v2-event.json';

/**
 * API Gateway HTTP API (payload v2) events derived from one captured-shape sample, so every test
 * event has exactly the fields API Gateway sends.
 */
export interface EventOptions {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string | undefined>;
  /** A string is sent as is; anything else is JSON-encoded. `undefined` sends no body. */
  readonly body?: unknown;
  readonly isBase64Encoded?: boolean;
}

export function apiEvent(options: EventOptions = {}): APIGatewayProxyEventV2 {
  const base = structuredClone(sample) as APIGatewayProxyEventV2;
  const method = options.method ?? 'POST';
  const path = options.path ?? '/v1/tickets';
  const headers: Record<string, string> = { ...base.headers } as Record<string, string>;
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name.toLowerCase()];
    else headers[name.toLowerCase()] = value;
  }
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  if (body === undefined) delete headers['content-length'];
  else
    headers['content-length'] = String(Buffer.byteLength(body, options.isBase64Encoded ? 'base64' : 'utf8'));
  const event: APIGatewayProxyEventV2 = {
    ...base,
    rawPath: path,
    headers,
    requestContext: {
      ...base.requestContext,
      requestId: randomBytes(10).toString('base64'),
      http: { ...base.requestContext.http, method, path },
    },
    pathParameters: { proxy: path.replace(/^\/v1\//, '') },
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
  if (body === undefined) delete event.body;
  else event.body = body;
  return event;
}

/** A Lambda context as the runtime passes it (what our middlewares read). */
export function lambdaContext(functionName = 'issue-ticket', remainingMs = 15_000): Context {
  return localLambdaContext(functionName, remainingMs);
}
