import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { apiGatewayEvent } from '../../local/api-gateway';
import { lambdaContext as localLambdaContext } from '../../local/lambda-context';
import sample from '../fixtures/apigw-http-v2-event.json';

/**
 * API Gateway HTTP API (payload v2) events for tests: built by the local emulation's own builder,
 * with the host, source address, headers and route of one captured-shape sample.
 */
export interface EventOptions {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string | undefined>;
  /** A string is sent as is; anything else is JSON-encoded. `undefined` sends no body. */
  readonly body?: unknown;
  readonly isBase64Encoded?: boolean;
  /** `requestContext.http.sourceIp`. @default the sample's, 203.0.113.17 */
  readonly sourceIp?: string;
}

export function apiEvent(options: EventOptions = {}): APIGatewayProxyEventV2 {
  const method = options.method ?? 'POST';
  const path = options.path ?? '/v1/tickets';
  const headers: Record<string, string> = { ...sample.headers };
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
  const isBase64Encoded = options.isBase64Encoded ?? false;
  if (body === undefined) delete headers['content-length'];
  else headers['content-length'] = String(Buffer.byteLength(body, isBase64Encoded ? 'base64' : 'utf8'));
  return apiGatewayEvent({
    method,
    target: path,
    headers,
    ...(body === undefined ? {} : { encodedBody: { body, isBase64Encoded } }),
    host: sample.requestContext.domainName,
    sourceIp: options.sourceIp ?? sample.requestContext.http.sourceIp,
    accountId: sample.requestContext.accountId,
    // The deployed stage routes /v1/{proxy+}: the event names the route and its path parameter.
    routeKey: sample.routeKey,
    pathParameters: { proxy: path.replace(/^\/v1\//, '') },
  });
}

/** A Lambda context as the runtime passes it (what our middlewares read). */
export function lambdaContext(functionName = 'issue-ticket', remainingMs = 15_000): Context {
  return localLambdaContext(functionName, remainingMs);
}
