import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { type LocalServer, startHttpServer } from './http-kit';
import { lambdaContext } from './lambda-context';

/** A function handler as the Lambda runtime calls it. */
export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

export interface LocalApiGatewayOptions {
  readonly handler: LambdaHandler;
  readonly port?: number;
  readonly functionName?: string;
  /** The function's timeout, as `getRemainingTimeInMillis` counts it down. @default 15000 */
  readonly timeoutMs?: number;
}

/** API Gateway refuses request bodies over 10 MB before the function sees them. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
/**
 * Content types whose bodies API Gateway HTTP APIs pass as a string (`isBase64Encoded: false`).
 * AWS documents only that a binary body is base64-encoded, not which types count as text; this
 * list is what was observed on real HTTP APIs (ministack, apigateway v2, verified against AWS):
 * `text/*`, `application/json`, `application/xml`, `application/javascript`; everything else,
 * a missing content type and `application/x-www-form-urlencoded` included, arrives base64-encoded.
 */
const TEXT_TYPES = /^(text\/[^;\s]*|application\/(json|xml|javascript))\s*(;|$)/i;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The body as API Gateway hands it to the function: a string for a text type whose bytes are
 * UTF-8, base64 otherwise. Bytes that are not UTF-8 cannot travel in the event's JSON string
 * without being changed (AWS does not document this case), so they go base64-encoded, as they
 * came: the function sees exactly the bytes that were sent, never a decoded-and-replaced text.
 */
function eventBody(body: Buffer, contentType: string): { body: string; isBase64Encoded: boolean } {
  if (TEXT_TYPES.test(contentType)) {
    try {
      return { body: utf8.decode(body), isBase64Encoded: false };
    } catch {
      // Not UTF-8: passed on unchanged, base64-encoded.
    }
  }
  return { body: body.toString('base64'), isBase64Encoded: true };
}

function apiGatewayTime(date: Date): string {
  // 22/Nov/2026:10:14:38 +0000, as requestContext.time carries it.
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(
    date.getUTCMinutes(),
  )}:${pad(date.getUTCSeconds())} +0000`;
}

/** What one HTTP request is made of, as API Gateway sees it. */
export interface GatewayRequest {
  readonly method: string;
  /** The request target as sent: the path and any query, e.g. `/v1/tickets?x=1`. */
  readonly target: string;
  /** Header names lower-case, repeated ones already comma-joined; a `cookie` header goes to `cookies`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body's bytes; API Gateway decides how the event carries them (see `eventBody`). */
  readonly body?: Buffer;
  /** The body exactly as the event should carry it, for tests of the body decoding itself. */
  readonly encodedBody?: { readonly body: string; readonly isBase64Encoded: boolean };
  readonly host: string;
  readonly sourceIp: string;
  readonly protocol?: string;
  /** The matched route: `$default` here, `ANY /v1/{proxy+}` and its path parameters on a stage with routes. */
  readonly routeKey?: string;
  readonly pathParameters?: Record<string, string>;
  readonly accountId?: string;
  readonly requestId?: string;
  readonly now?: Date;
}

/**
 * The payload-v2 event API Gateway HTTP API sends for a request: one builder, used by the local
 * emulation for real HTTP requests and by the tests for made-up ones, so both carry the same fields.
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
export function apiGatewayEvent(request: GatewayRequest): APIGatewayProxyEventV2 {
  const url = new URL(request.target, 'http://localhost');
  const { cookie, ...headers } = request.headers;
  const cookies = (cookie ?? '')
    .split(';')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  const now = request.now ?? new Date();
  const requestId = request.requestId ?? randomBytes(10).toString('base64').replace(/=+$/, '=');
  const routeKey = request.routeKey ?? '$default';
  const encoded =
    request.encodedBody ??
    (request.body && request.body.length > 0
      ? eventBody(request.body, headers['content-type'] ?? '')
      : undefined);
  let path = url.pathname;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    // A malformed escape (%E0%A4%A) stays as sent, as API Gateway passes it on.
  }
  const apiId = request.host.split('.')[0] ?? request.host;
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    requestContext: {
      accountId: request.accountId ?? '000000000000',
      apiId,
      domainName: request.host,
      domainPrefix: apiId,
      http: {
        method: request.method,
        path,
        protocol: request.protocol ?? 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: encoded?.isBase64Encoded ?? false,
  };
  if (cookies.length > 0) event.cookies = cookies;
  if (request.pathParameters) event.pathParameters = request.pathParameters;
  if (url.search) {
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams)
      query[name] = name in query ? `${query[name]},${value}` : value;
    event.queryStringParameters = query;
  }
  if (encoded) event.body = encoded.body;
  return event;
}

/** The event of a real HTTP request reaching the emulation. */
function toEvent(request: IncomingMessage, body: Buffer, host: string): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = (request.rawHeaders[i] ?? '').toLowerCase();
    const value = request.rawHeaders[i + 1] ?? '';
    headers[name] = name in headers ? `${headers[name]}${name === 'cookie' ? '; ' : ','}${value}` : value;
  }
  const sourceIp = request.socket.remoteAddress ?? '127.0.0.1';
  headers['x-forwarded-for'] = sourceIp;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(request.socket.localPort ?? '');
  return apiGatewayEvent({
    method: request.method ?? 'GET',
    target: request.url ?? '/',
    headers,
    body,
    host,
    sourceIp,
    protocol: `HTTP/${request.httpVersion}`,
  });
}

/** Writes a handler result the way API Gateway does (a bare value becomes a 200 JSON body). */
function writeResult(response: ServerResponse, result: APIGatewayProxyResultV2, requestId: string): void {
  const structured: APIGatewayProxyStructuredResultV2 =
    typeof result === 'object' && result !== null && 'statusCode' in result
      ? result
      : { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) };
  const headers: Record<string, string | string[]> = { 'apigw-requestid': requestId };
  for (const [name, value] of Object.entries(structured.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  if (structured.cookies && structured.cookies.length > 0) headers['set-cookie'] = structured.cookies;
  const body =
    structured.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(structured.body, structured.isBase64Encoded ? 'base64' : 'utf8');
  headers['content-length'] = String(body.length);
  response.writeHead(structured.statusCode ?? 200, headers);
  response.end(body);
}

/**
 * A local stand-in for API Gateway HTTP API with a Lambda proxy integration (payload format 2.0):
 * each request becomes the event API Gateway would send ({@link apiGatewayEvent}), runs through the
 * same handler module the CDK app bundles, and the result becomes the response API Gateway would
 * return. Bodies over 10 MB are refused, as API Gateway refuses them.
 *
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
export async function startLocalApiGateway(options: LocalApiGatewayOptions): Promise<LocalServer> {
  const functionName = options.functionName ?? 'issue-ticket';
  const timeoutMs = options.timeoutMs ?? 15_000;
  return startHttpServer(
    async (request, response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of request) {
        size += (chunk as Buffer).length;
        if (size > MAX_PAYLOAD_BYTES) {
          response.writeHead(413, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ message: 'Request Entity Too Large' }));
          return;
        }
        chunks.push(chunk as Buffer);
      }
      const event = toEvent(request, Buffer.concat(chunks), request.headers.host ?? '127.0.0.1');
      let result: APIGatewayProxyResultV2;
      try {
        result = await options.handler(event, lambdaContext(functionName, timeoutMs));
      } catch {
        // What API Gateway answers when the integration fails.
        response.writeHead(500, {
          'content-type': 'application/json',
          'apigw-requestid': event.requestContext.requestId,
        });
        response.end(JSON.stringify({ message: 'Internal Server Error' }));
        return;
      }
      writeResult(response, result, event.requestContext.requestId);
    },
    options.port !== undefined ? { port: options.port } : {},
  );
}
