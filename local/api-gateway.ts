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

/**
 * A local stand-in for API Gateway HTTP API with a Lambda proxy integration (payload format 2.0):
 * each request becomes the event API Gateway would send, runs through the same handler module the
 * CDK app bundles, and the result becomes the response API Gateway would return.
 *
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
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

/** Builds the payload-v2 event of a request (headers lower-cased, repeated ones comma-joined, cookies apart). */
export function toEvent(request: IncomingMessage, body: Buffer, host: string): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = (request.rawHeaders[i] ?? '').toLowerCase();
    const value = request.rawHeaders[i + 1] ?? '';
    if (name === 'cookie') continue;
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const cookies = (request.headers.cookie ?? '')
    .split(';')
    .map((cookie) => cookie.trim())
    .filter((cookie) => cookie.length > 0);
  const now = new Date();
  const requestId = randomBytes(10).toString('base64').replace(/=+$/, '=');
  headers['x-forwarded-for'] = request.socket.remoteAddress ?? '127.0.0.1';
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(request.socket.localPort ?? '');
  const encoded = body.length > 0 ? eventBody(body, headers['content-type'] ?? '') : undefined;
  let path = url.pathname;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    // A malformed escape (%E0%A4%A) stays as sent, as API Gateway passes it on.
  }
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method ?? 'GET',
        path,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: encoded?.isBase64Encoded ?? false,
  };
  if (cookies.length > 0) event.cookies = cookies;
  if (url.search) {
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams)
      query[name] = name in query ? `${query[name]},${value}` : value;
    event.queryStringParameters = query;
  }
  if (encoded) event.body = encoded.body;
  return event;
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
