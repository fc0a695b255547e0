import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { PROBLEM_CODES } from '../../shared/http/problem';
import { API_ROUTES } from '../../shared/http/routes';
import {
  type ApiHandler,
  type ApiResponse,
  addCaller,
  bearer,
  invoke,
  loadApiHandler,
} from '../support/api-harness';
import { OutputCapture } from '../support/log-capture';
import { TestStack } from '../support/stack';

/**
 * docs/openapi.yaml is the API's description: it describes the route table (shared/http/routes.ts)
 * and nothing else, with each route's handler as its operationId and a key required unless the
 * route is public; every problem code matches the code's list, and real responses of the handler
 * (success and each kind of refusal) validate against the schema the spec gives for their path,
 * method and status.
 */
type Operation = {
  operationId?: string;
  security?: unknown[];
  responses: Record<string, { $ref?: string }>;
};
type Spec = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: { Problem: { properties: { code: { enum: string[] } } } } };
};
const SPEC_TEXT = readFileSync('docs/openapi.yaml', 'utf8');
const spec = parse(SPEC_TEXT) as Spec;

/** The OpenAPI document's own fields, which hold schemas but are not JSON Schema keywords. */
const OPENAPI_FIELDS = [
  'openapi',
  'info',
  'servers',
  'security',
  'paths',
  'components',
  'tags',
  'externalDocs',
];

/**
 * A validator over the whole document, strict about schemas: an unknown keyword anywhere in a
 * schema (a typo, or YAML that split a description into a stray key) fails compilation instead of
 * being ignored.
 */
function strictValidator(document: unknown): Ajv2020 {
  const validator = new Ajv2020({ strict: true, allErrors: true });
  addFormats(validator);
  validator.addVocabulary(OPENAPI_FIELDS);
  validator.addSchema(document as object, 'openapi');
  return validator;
}

/** Every schema the document gives a response, compiled (strictly) once. */
function compileEveryResponseSchema(validator: Ajv2020, document: Spec): number {
  let compiled = 0;
  const visit = (value: unknown, path: string[]) => {
    if (typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'schema' && path.includes('content')) {
        validator.compile({ $ref: `openapi#/${pointer(...path, key)}` });
        compiled++;
      } else {
        visit(child, [...path, key]);
      }
    }
  };
  visit(document, []);
  return compiled;
}

const ajv = strictValidator(spec);

const pointer = (...parts: string[]) =>
  parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

/** The schema pointer (and the raw response object) for a real response. */
function responseSpec(path: string, method: string, status: number, contentType: string) {
  const operation = spec.paths[path]?.[method.toLowerCase()];
  if (!operation) throw new Error(`spec has no ${method} ${path}`);
  let responsePointer = `openapi#/${pointer('paths', path, method.toLowerCase(), 'responses', String(status))}`;
  let response = operation.responses[String(status)] as Record<string, unknown> | undefined;
  if (!response) throw new Error(`spec has no ${status} for ${method} ${path}`);
  const ref = (response as { $ref?: string }).$ref;
  if (ref) {
    responsePointer = `openapi${ref}`;
    const name = ref.split('/').at(-1) ?? '';
    response = (spec.components as unknown as { responses: Record<string, Record<string, unknown>> })
      .responses[name];
  }
  const content = (response?.content ?? {}) as Record<string, unknown>;
  if (!(contentType in content)) {
    throw new Error(
      `${method} ${path} ${status}: spec allows ${Object.keys(content).join(', ')}, got ${contentType}`,
    );
  }
  return {
    schemaRef: `${responsePointer}/${pointer('content', contentType, 'schema')}`,
    headers: (response?.headers ?? {}) as Record<string, unknown>,
  };
}

function expectConforms(specPath: string, method: string, response: ApiResponse): void {
  const contentType = (response.headers['content-type'] ?? '').split(';')[0] ?? '';
  const { schemaRef, headers } = responseSpec(specPath, method, response.status, contentType);
  const validate = ajv.compile({ $ref: schemaRef });
  const valid = validate(response.body);
  if (!valid) throw new Error(`${method} ${specPath} ${response.status}: ${ajv.errorsText(validate.errors)}`);
  if ('Cache-Control' in headers) expect(response.headers['cache-control']).toBe('no-store');
}

let stack: TestStack;
let handler: ApiHandler;
let ticketsKey: string;
let tokensKey: string;
const output = new OutputCapture();

beforeAll(async () => {
  output.start();
  stack = await TestStack.start();
  handler = await loadApiHandler(stack);
  ticketsKey = (
    await addCaller(stack, {
      name: 'spec',
      connections: ['astrato'],
      anyEmail: true,
      groupIds: ['sales'],
      groupNames: ['Sales EMEA'],
    })
  ).key;
  tokensKey = (await addCaller(stack, { name: 'spec tokens', connections: ['oms'], tokens: true })).key;
});

afterAll(async () => {
  output.stop();
  await stack?.stop();
});

describe('docs/openapi.yaml', () => {
  it('is OpenAPI 3.1 and describes exactly the routes the handler serves', () => {
    expect((spec as unknown as { openapi: string }).openapi).toMatch(/^3\.1\./);
    const inSpec = Object.entries(spec.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(inSpec.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });

  it("names each operation after its route's handler, and needs a caller key unless the route is public", () => {
    const described = (document: Spec) =>
      API_ROUTES.map((route) => {
        const operation = document.paths[route.path]?.[route.method.toLowerCase()];
        return {
          route: `${route.method} ${route.path}`,
          operationId: operation?.operationId,
          needsKey: !(Array.isArray(operation?.security) && operation.security.length === 0),
        };
      });
    const fromTable = API_ROUTES.map((route) => ({
      route: `${route.method} ${route.path}`,
      operationId: route.handler,
      needsKey: route.scope !== 'public',
    }));
    expect(described(spec)).toEqual(fromTable);
    // Negative control: a document that made the health check need a key says otherwise.
    const keyed = parse(SPEC_TEXT.replace(/( {6}security: \[\]\n)/, '')) as Spec;
    expect(described(keyed)).not.toEqual(fromTable);
  });

  it('every response schema compiles under a validator strict about unknown keywords', () => {
    expect(compileEveryResponseSchema(ajv, spec)).toBeGreaterThan(10);
  });

  it('negative control: the strict validator refuses a schema with an unknown keyword', () => {
    // What a YAML flow mapping with a comma in its description once produced.
    const broken = parse(
      SPEC_TEXT.replace(
        /( {8}requestId:\n {10}type: string\n)/,
        `$1          also in the broker's logs.: null\n`,
      ),
    ) as Spec;
    expect(JSON.stringify(broken)).toContain("also in the broker's logs.");
    expect(() => compileEveryResponseSchema(strictValidator(broken), broken)).toThrow(/unknown keyword/);
  });

  it('lists exactly the problem codes the code uses', () => {
    expect([...spec.components.schemas.Problem.properties.code.enum].sort()).toEqual(
      [...PROBLEM_CODES].sort(),
    );
  });
});

describe('real responses conform to the spec', () => {
  beforeEach(() => {
    stack.astrato.faults.clear();
  });

  const tickets = (body: unknown, headers: Record<string, string | undefined> = bearer(ticketsKey)) =>
    invoke(handler, { method: 'POST', path: '/v1/tickets', body, headers });

  it.each([
    ['201 ticket', () => tickets({ email: 'spec@example.com', groupIds: ['sales'] }), 201],
    [
      '201 ticket with group names',
      () => tickets({ email: 'spec@example.com', groupIds: ['sales'], groupNames: ['Sales EMEA'] }),
      201,
    ],
    ['403 group name', () => tickets({ email: 'spec@example.com', groupNames: ['Admins'] }), 403],
    ['400 unknown field', () => tickets({ email: 'spec@example.com', extra: 1 }), 400],
    ['401 missing key', () => tickets({ email: 'spec@example.com' }, { authorization: undefined }), 401],
    ['403 group', () => tickets({ email: 'spec@example.com', groupIds: ['admins'] }), 403],
    ['404 unknown connection', () => tickets({ connection: 'nope', email: 'spec@example.com' }), 404],
    ['413 too large', () => tickets({ email: 'spec@example.com', name: 'x'.repeat(20_000) }), 413],
    [
      '415 content type',
      () => tickets({ email: 'spec@example.com' }, { ...bearer(ticketsKey), 'content-type': 'text/plain' }),
      415,
    ],
  ] as const)('POST /v1/tickets %s', async (_label, send, status) => {
    const response = await send();
    expect(response.status).toBe(status);
    expectConforms('/v1/tickets', 'POST', response);
  });

  it('POST /v1/tickets 502 and 503', async () => {
    stack.astrato.faults.set('setup', { status: 400, count: 1 });
    const rejected = await tickets({ email: 'spec@example.com' });
    expect(rejected.status).toBe(502);
    expectConforms('/v1/tickets', 'POST', rejected);
    stack.astrato.faults.set('setup', { status: 503, retryAfter: '60' });
    const unavailable = await tickets({ email: 'spec@example.com' });
    expect(unavailable.status).toBe(503);
    expectConforms('/v1/tickets', 'POST', unavailable);
  });

  it('POST /v1/tickets with the wrong method: 405', async () => {
    const response = await invoke(handler, {
      method: 'PUT',
      path: '/v1/tickets',
      headers: bearer(ticketsKey),
    });
    expect(response.status).toBe(405);
    expectConforms('/v1/tickets', 'POST', response);
  });

  it('POST /v1/connections/{id}/token 200 and 403', async () => {
    const ok = await invoke(handler, {
      method: 'POST',
      path: '/v1/connections/oms/token',
      headers: bearer(tokensKey),
    });
    expect(ok.status).toBe(200);
    expectConforms('/v1/connections/{id}/token', 'POST', ok);
    const refused = await invoke(handler, {
      method: 'POST',
      path: '/v1/connections/oms/token',
      headers: bearer(ticketsKey),
    });
    expect(refused.status).toBe(403);
    expectConforms('/v1/connections/{id}/token', 'POST', refused);
  });

  it('GET /v1/connections/{id}/status 200 and 401', async () => {
    const ok = await invoke(handler, {
      method: 'GET',
      path: '/v1/connections/oms/status',
      headers: bearer(tokensKey),
    });
    expect(ok.status).toBe(200);
    expectConforms('/v1/connections/{id}/status', 'GET', ok);
    const refused = await invoke(handler, {
      method: 'GET',
      path: '/v1/connections/oms/status',
      headers: { authorization: 'Bearer nope' },
    });
    expect(refused.status).toBe(401);
    expectConforms('/v1/connections/{id}/status', 'GET', refused);
  });

  it('every route of the table but the public one refuses a request without a caller key (401)', async () => {
    const statuses = await Promise.all(
      API_ROUTES.map(async (route) => {
        const path = route.path.replace('{id}', 'oms');
        const response = await invoke(handler, {
          method: route.method,
          path,
          headers: { authorization: undefined },
        });
        return { route: `${route.method} ${route.path}`, unauthorized: response.status === 401 };
      }),
    );
    expect(statuses).toEqual(
      API_ROUTES.map((route) => ({
        route: `${route.method} ${route.path}`,
        unauthorized: route.scope !== 'public',
      })),
    );
  });

  it('GET /v1/health 200', async () => {
    const response = await invoke(handler, { method: 'GET', path: '/v1/health' });
    expectConforms('/v1/health', 'GET', response);
  });

  it('a response that breaks the spec is caught (the check can fail)', () => {
    const broken: ApiResponse = {
      status: 201,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: {
        ticketId: 't',
        redeemUrl: 'https://app.astrato.io/auth/proxy/oem/ticket/t?embed',
        embedUrl: 'not a url',
        signOutUrl: 'https://app.astrato.io/auth/proxy/0/sign_out',
        connection: 'astrato',
        expiresAt: 'soon',
        secret: 'x',
      },
      raw: '',
      requestId: 'r',
    };
    expect(() => expectConforms('/v1/tickets', 'POST', broken)).toThrow(/embedUrl|expiresAt|additional/);
    // A 201 without the redemption or sign-out URL breaks the spec too.
    const {
      redeemUrl: _redeem,
      signOutUrl: _signOut,
      ...withoutUrls
    } = {
      ticketId: 't',
      redeemUrl: 'https://x.example/r',
      embedUrl: 'https://x.example/e',
      signOutUrl: 'https://x.example/s',
      connection: 'astrato',
      expiresAt: '2026-11-23T10:00:00.000Z',
    };
    expect(() => expectConforms('/v1/tickets', 'POST', { ...broken, body: withoutUrls })).toThrow(
      /redeemUrl|signOutUrl/,
    );
  });
});
