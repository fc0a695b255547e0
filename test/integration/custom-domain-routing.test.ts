import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type ApiHandler, addCaller, bearer, loadApiHandler } from '../support/api-harness';
import { apiEvent, lambdaContext } from '../support/events';
import { OutputCapture } from '../support/log-capture';
import { TestStack } from '../support/stack';

/**
 * The API reached through a custom domain's API mapping with a path, as well as on its default
 * endpoint. Through a mapping, API Gateway matches the route on the path after the mapping key but
 * leaves the key in `rawPath` and `requestContext.http.path` (e.g. `/broker/v1/tickets`); the
 * events below carry it there, with the route key API Gateway matched.
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-mappings.html
 */
const output = new OutputCapture();
let stack: TestStack;
let handler: ApiHandler;
let ticketKey: string;
let statusKey: string;

beforeAll(async () => {
  output.start();
  stack = await TestStack.start();
  handler = await loadApiHandler(stack);
  ({ key: ticketKey } = await addCaller(stack, {
    name: 'domain test',
    connections: ['astrato'],
    anyEmail: true,
  }));
  ({ key: statusKey } = await addCaller(stack, {
    name: 'status reader',
    connections: ['oms'],
    tokens: true,
  }));
});

afterAll(async () => {
  output.stop();
  await stack?.stop();
});

interface RoutedRequest {
  readonly method: string;
  /** The path as the client sent it, mapping key included. */
  readonly rawPath: string;
  /** What API Gateway matched: `POST /v1/tickets`, `ANY /{proxy+}` or `$default`. */
  readonly routeKey: string;
  readonly pathParameters?: Record<string, string>;
  readonly key?: string;
  readonly body?: unknown;
}

async function call(request: RoutedRequest) {
  const base = apiEvent({
    method: request.method,
    path: request.rawPath,
    ...(request.key ? { headers: bearer(request.key) } : {}),
    ...(request.body !== undefined ? { body: request.body } : {}),
  });
  const event: APIGatewayProxyEventV2 = {
    ...base,
    routeKey: request.routeKey,
    requestContext: { ...base.requestContext, routeKey: request.routeKey, domainName: 'api.example.com' },
  };
  if (request.pathParameters) event.pathParameters = request.pathParameters;
  else delete event.pathParameters;
  const result = await handler(event, lambdaContext());
  return {
    status: result.statusCode,
    headers: result.headers ?? {},
    body: JSON.parse(String(result.body ?? '{}')) as Record<string, unknown>,
  };
}

const ticket = { email: 'domain@example.com' };

describe('on the default endpoint', () => {
  it('serves a documented route', async () => {
    const response = await call({
      method: 'POST',
      rawPath: '/v1/tickets',
      routeKey: 'POST /v1/tickets',
      key: ticketKey,
      body: ticket,
    });
    expect(response.status).toBe(201);
  });
});

describe('through an API mapping with a path', () => {
  it('serves POST /broker/v1/tickets as /v1/tickets', async () => {
    const response = await call({
      method: 'POST',
      rawPath: '/broker/v1/tickets',
      routeKey: 'POST /v1/tickets',
      key: ticketKey,
      body: ticket,
    });
    expect(response).toMatchObject({ status: 201, body: { connection: 'astrato' } });
  });

  it('serves a multi-level mapping and a path parameter', async () => {
    const response = await call({
      method: 'GET',
      rawPath: '/partners/broker/v1/connections/oms/status',
      routeKey: 'GET /v1/connections/{id}/status',
      pathParameters: { id: 'oms' },
      key: statusKey,
    });
    expect(response).toMatchObject({ status: 200, body: { connection: 'oms' } });
  });

  it('serves the public health route', async () => {
    const response = await call({ method: 'GET', rawPath: '/broker/v1/health', routeKey: 'GET /v1/health' });
    expect(response).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('answers another method on a known path with 405 and Allow, through the catch-all route', async () => {
    const response = await call({
      method: 'GET',
      rawPath: '/broker/v1/tickets',
      routeKey: 'ANY /{proxy+}',
      pathParameters: { proxy: 'v1/tickets' },
      key: ticketKey,
    });
    expect(response).toMatchObject({ status: 405, body: { code: 'invalid_request' } });
    expect(response.headers.allow ?? response.headers.Allow).toBe('POST');
  });

  it('answers an unknown path with 404 naming the path within the API', async () => {
    const response = await call({
      method: 'GET',
      rawPath: '/broker/v2/tickets',
      routeKey: 'ANY /{proxy+}',
      pathParameters: { proxy: 'v2/tickets' },
    });
    expect(response).toMatchObject({ status: 404, body: { code: 'invalid_request' } });
    expect(String(response.body.detail)).toContain('/v2/tickets');
    expect(String(response.body.detail)).not.toContain('/broker');
  });

  it('answers the mapping’s root ($default route) with 404', async () => {
    const response = await call({ method: 'GET', rawPath: '/broker', routeKey: '$default' });
    expect(response).toMatchObject({ status: 404, body: { code: 'invalid_request' } });
  });
});
