import { mkdirSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { startLocalApiGateway } from '../../local/api-gateway';
import type { LocalServer } from '../../local/http-kit';
import { PROBLEM_CODES } from '../../shared/http/problem';
import { API_ROUTES, routePattern } from '../../shared/http/routes';
import { type ApiHandler, addCaller, bearer, invoke, loadApiHandler } from '../support/api-harness';
import { OutputCapture } from '../support/log-capture';
import { TestStack } from '../support/stack';

/**
 * Generated bad input over the HTTP API (API Gateway emulation in front of the real handler):
 * for every case a 4xx problem+json (404/405 for unknown routes and methods), never a 5xx, never
 * an upstream call, and the process keeps serving.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const ALLOWED_GROUPS = ['sales', 'support'];
const ALLOWED_GROUP_NAMES = ['Sales EMEA', 'Support'];
const output = new OutputCapture();

let stack: TestStack;
let gateway: LocalServer;
let handler: ApiHandler;
let key: string;
let keyId: string;
const counts: Record<string, number> = {};

beforeAll(async () => {
  output.start();
  stack = await TestStack.start();
  handler = await loadApiHandler(stack);
  gateway = await startLocalApiGateway({ handler: handler as never });
  ({ key, keyId } = await addCaller(stack, {
    name: 'fuzz',
    connections: ['astrato', 'oms'],
    anyEmail: true,
    groupIds: ALLOWED_GROUPS,
    groupNames: ALLOWED_GROUP_NAMES,
  }));
  // Warm both tokens so that an accidental upstream call would show as setup/vending, and reset.
  await fetch(`${gateway.url}/v1/tickets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'warm@example.com' }),
  });
  stack.astrato.resetCounts();
  stack.keycloak.resetCounts();
}, 30_000);

afterAll(async () => {
  output.stop();
  mkdirSync('test-results', { recursive: true });
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  writeFileSync(
    'test-results/bad-input-fuzz.json',
    `${JSON.stringify({ total, byProperty: counts }, null, 2)}\n`,
  );
  process.stderr.write(`bad-input fuzz: ${total} generated cases (${JSON.stringify(counts)})\n`);
  await gateway?.stop();
  await stack?.stop();
});

afterEach(() => {
  // Never an upstream call, whatever was sent.
  expect(stack.astrato.counts()).toMatchObject({ token: 0, setup: 0 });
  expect(stack.keycloak.counts()).toMatchObject({ token: 0, oms: 0 });
});

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array;
}

async function send(
  request: Sent,
): Promise<{ status: number; contentType: string; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}${request.path}`, {
    method: request.method,
    headers: request.headers,
    ...(request.body !== undefined
      ? { body: typeof request.body === 'string' ? request.body : Buffer.from(request.body) }
      : {}),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { unparsable: text.slice(0, 200) };
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body };
}

function expectRefusal(
  result: Awaited<ReturnType<typeof send>>,
  allowed: readonly number[] = [400, 401, 403, 404, 405, 413, 415],
): void {
  if (!allowed.includes(result.status)) {
    throw new Error(
      `expected one of ${allowed.join('/')}, got ${result.status}: ${JSON.stringify(result.body)}`,
    );
  }
  expect(result.contentType).toBe('application/problem+json');
  expect(PROBLEM_CODES).toContain(result.body.code);
  expect(result.body.status).toBe(result.status);
  expect(typeof result.body.detail).toBe('string');
}

const ticketRequest = (body: string | Uint8Array, headers: Record<string, string> = {}): Sent => ({
  method: 'POST',
  path: '/v1/tickets',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
  body,
});

async function check(
  name: string,
  arbitrary: fc.Arbitrary<Sent>,
  allowed?: readonly number[],
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arbitrary, async (request) => {
      counts[name] = (counts[name] ?? 0) + 1;
      expectRefusal(await send(request), allowed);
    }),
    { numRuns: RUNS },
  );
}

/** Strings that are not e-mail addresses a validator could accept. */
const notAnEmail = fc.oneof(
  fc.string().filter((s) => !s.includes('@')),
  fc.string({ unit: 'binary' }).map((s) => `${s}\u0000@example.com`),
  fc.string({ minLength: 1 }).map((s) => `${s} @exa mple.com`),
  fc.constantFrom(
    '@',
    'a@',
    '@b.c',
    'a@b',
    'a@@b.co',
    'a@b..co',
    'ａ@example.com',
    'a\n@example.com',
    '"a"@[1.2.3.4',
  ),
);

describe('generated bad input', () => {
  it('random JSON values that are not a ticket request object', async () => {
    const notAnObject = fc.oneof(
      fc.jsonValue().filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
    );
    await check(
      'non-object JSON',
      notAnObject.map((value) => ticketRequest(JSON.stringify(value))),
    );
  });

  it('objects with an unknown field', async () => {
    const body = fc
      .tuple(
        fc
          .string({ minLength: 1 })
          .filter((k) => !['connection', 'email', 'name', 'groupIds', 'groupNames', '__proto__'].includes(k)),
        fc.jsonValue(),
      )
      .map(([field, value]) => JSON.stringify({ email: 'ok@example.com', [field]: value }));
    await check(
      'unknown field',
      body.map((b) => ticketRequest(b)),
    );
  });

  it('wrong types for every field', async () => {
    const wrong = fc.oneof(
      fc.record({
        email: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object()),
      }),
      fc.record({
        email: fc.constant('ok@example.com'),
        name: fc.oneof(fc.integer(), fc.constant(null), fc.object(), fc.constant('')),
      }),
      fc.record({
        email: fc.constant('ok@example.com'),
        groupIds: fc.oneof(
          fc.string(),
          fc.integer(),
          fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.object()), { minLength: 1 }),
        ),
      }),
      fc.record({
        email: fc.constant('ok@example.com'),
        groupNames: fc.oneof(
          fc.string(),
          fc.integer(),
          fc.constant(null),
          fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.object(), fc.constant('')), { minLength: 1 }),
        ),
      }),
      fc.record({
        email: fc.constant('ok@example.com'),
        connection: fc.oneof(fc.integer(), fc.constant('UPPER'), fc.constant('a b')),
      }),
    );
    await check(
      'wrong types',
      wrong.map((b) => ticketRequest(JSON.stringify(b))),
    );
  });

  it('unicode and control characters in emails', async () => {
    await check(
      'bad emails',
      notAnEmail.map((email) => ticketRequest(JSON.stringify({ email }))),
    );
  });

  it('groups that are not allowed, too many, or with control characters', async () => {
    const groups = fc.oneof(
      fc.array(
        fc
          .string({ minLength: 1, maxLength: 20 })
          .filter((g) => !ALLOWED_GROUPS.includes(g) && !/\p{Cc}/u.test(g)),
        {
          minLength: 1,
          maxLength: 5,
        },
      ),
      fc.array(fc.constantFrom(...ALLOWED_GROUPS), { minLength: 51, maxLength: 80 }),
      fc.string({ minLength: 1 }).map((g) => [`sales${g}\u0007`]),
    );
    await check(
      'groups',
      groups.map((groupIds) => ticketRequest(JSON.stringify({ email: 'ok@example.com', groupIds }))),
    );
  });

  it('group names that are not allowed (exact match), too many, or with control characters', async () => {
    const names = fc.oneof(
      fc.array(
        fc
          .string({ minLength: 1, maxLength: 20 })
          .filter((g) => !ALLOWED_GROUP_NAMES.includes(g) && !/\p{Cc}/u.test(g)),
        { minLength: 1, maxLength: 5 },
      ),
      // Near misses of an allowed name: case, spaces, a group id used as a name.
      fc.constantFrom(['sales emea'], ['Sales EMEA '], [' Sales EMEA'], ['SALES EMEA'], ['sales']),
      fc.array(fc.constantFrom(...ALLOWED_GROUP_NAMES), { minLength: 51, maxLength: 80 }),
      fc.string({ minLength: 1 }).map((g) => [`Sales EMEA${g}\u0000`]),
    );
    await check(
      'group names',
      names.map((groupNames) => ticketRequest(JSON.stringify({ email: 'ok@example.com', groupNames }))),
    );
  });

  it('huge strings and bodies', async () => {
    const huge = fc
      .integer({ min: 16 * 1024 + 1, max: 200_000 })
      .map((size) => ticketRequest(JSON.stringify({ email: 'ok@example.com', name: 'n'.repeat(size) })));
    await check('huge', huge);
  });

  it('deep nesting', async () => {
    const deep = fc
      .integer({ min: 50, max: 8000 })
      .chain((depth) =>
        fc.constantFrom(
          `{"email":${'['.repeat(depth)}${']'.repeat(depth)}}`,
          `${'['.repeat(depth)}${']'.repeat(depth)}`,
          `{"email":"ok@example.com","groupIds":${'['.repeat(depth)}"x"${']'.repeat(depth)}}`,
          `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
        ),
      );
    await check(
      'deep nesting',
      deep.map((b) => ticketRequest(b)),
    );
  });

  it('duplicate keys', async () => {
    const duplicated = fc
      .tuple(
        fc.constantFrom('email', 'name', 'groupIds', 'groupNames', 'connection'),
        fc.jsonValue(),
        fc.jsonValue(),
      )
      .map(([field, a, b]) => {
        const base = { email: 'ok@example.com' } as Record<string, unknown>;
        delete base[field];
        const prefix = JSON.stringify(base).slice(0, -1);
        return `${prefix}${prefix.length > 1 ? ',' : ''}"${field}":${JSON.stringify(a)},"${field}":${JSON.stringify(b)}}`;
      });
    await check(
      'duplicate keys',
      duplicated.map((b) => ticketRequest(b)),
    );
  });

  it('malformed JSON and raw bytes', async () => {
    const malformed = fc.oneof(
      fc.string({ minLength: 1 }).filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      }),
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
    );
    await check(
      'malformed',
      malformed.map((b) => ticketRequest(b)),
    );
  });

  describe('bytes that are not UTF-8, next to characters from U+F000 to U+FFFF', () => {
    const utf8 = new TextDecoder('utf-8', { fatal: true });
    const isUtf8 = (bytes: Uint8Array) => {
      try {
        utf8.decode(bytes);
        return true;
      } catch {
        return false;
      }
    };
    /** Invalid sequences: stray continuation, overlong, surrogate, beyond U+10FFFF, truncated, never-valid bytes. */
    const invalid = fc.constantFrom(
      [0x80],
      [0xbf],
      [0xc0, 0x80],
      [0xc1, 0xbf],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xed, 0xbf, 0xbf],
      [0xef, 0xbf],
      [0xef],
      [0xe1, 0x80],
      [0xf0, 0x80, 0x80, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0xfe],
      [0xff],
    );
    /** Characters whose UTF-8 form starts with 0xEF (U+F000..U+FFFF, U+FFFD among them), and ASCII. */
    const highBmp = fc.integer({ min: 0xf000, max: 0xffff }).map((code) => String.fromCharCode(code));
    const valid = fc.oneof(highBmp, fc.constantFrom('\uFFFD', 'a', ' ', 'Ada'));
    /** A ticket request whose `name` mixes both; the whole body is not UTF-8. */
    const body = fc
      .array(
        fc.oneof(
          invalid.map((bytes) => Buffer.from(bytes)),
          valid.map((text) => Buffer.from(text)),
        ),
        {
          minLength: 1,
          maxLength: 12,
        },
      )
      .chain((parts) =>
        invalid.map((bytes) =>
          Buffer.concat([
            Buffer.from('{"email":"ada@example.com","name":"'),
            ...parts,
            Buffer.from(bytes),
            Buffer.from('"}'),
          ]),
        ),
      )
      .filter((bytes) => !isUtf8(bytes));

    const expectNotUtf8 = (response: { status: number; body: Record<string, unknown> }) => {
      if (response.status !== 400 || response.body.detail !== 'request body is not valid UTF-8') {
        throw new Error(
          `expected 400 "not valid UTF-8", got ${response.status}: ${JSON.stringify(response.body)}`,
        );
      }
    };

    it('over HTTP (the API Gateway emulation passes the bytes through): 400, never a ticket', async () => {
      await fc.assert(
        fc.asyncProperty(body, async (bytes) => {
          counts['not UTF-8 (HTTP)'] = (counts['not UTF-8 (HTTP)'] ?? 0) + 1;
          const result = await send(ticketRequest(bytes));
          expectRefusal(result, [400]);
          expectNotUtf8(result);
        }),
        { numRuns: RUNS },
      );
    });

    it('as API Gateway sends them to the function: base64 bodies decoded strictly, plain ones without lone surrogates', async () => {
      const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
      const plain = fc
        .array(fc.oneof(highBmp, loneSurrogate, fc.constant('a')), { minLength: 1, maxLength: 12 })
        .chain((parts) => loneSurrogate.map((lone) => [...parts, lone].join('')))
        .filter((text) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text))
        .map((name) => ({ body: `{"email":"ada@example.com","name":"${name}"}`, isBase64Encoded: false }));
      const base64 = body.map((bytes) => ({ body: bytes.toString('base64'), isBase64Encoded: true }));
      await fc.assert(
        fc.asyncProperty(fc.oneof(base64, plain), async (sent) => {
          counts['not UTF-8 (event)'] = (counts['not UTF-8 (event)'] ?? 0) + 1;
          const response = await invoke(handler, {
            headers: { ...bearer(key), 'content-type': 'application/json' },
            ...sent,
          });
          expect(response.headers['content-type']).toBe('application/problem+json');
          expectNotUtf8(response);
        }),
        { numRuns: RUNS },
      );
    });
  });

  it('odd content types', async () => {
    const contentType = fc.oneof(
      fc.constantFrom(
        'text/plain',
        'application/xml',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        '*/*',
      ),
      fc
        .string({ minLength: 1, maxLength: 40 })
        .filter((s) => /^[\x20-\x7e]+$/.test(s) && !/^\s*application\/json\s*(;|$)/i.test(s)),
    );
    await check(
      'content types',
      contentType.map((ct) =>
        ticketRequest(JSON.stringify({ email: 'ok@example.com' }), { 'content-type': ct }),
      ),
    );
  });

  it('missing, malformed and wrong keys', async () => {
    const authorization = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
      fc
        .string({ maxLength: 60 })
        .filter((s) => /^[\x21-\x7e]*$/.test(s))
        .map((s) => `Bearer ${s}`),
      fc.base64String().map((s) => `Basic ${s}`),
      fc.constant(`Bearer tb_${keyId}_${'A'.repeat(43)}`),
      fc.constant(`Bearer ${key}x`),
      fc.constant(`Bearer ${key.slice(0, -1)}`),
    );
    await check(
      'keys',
      authorization.map((value) => ({
        method: 'POST',
        path: '/v1/tickets',
        headers: {
          'content-type': 'application/json',
          ...(value === undefined ? {} : { authorization: value }),
        },
        body: JSON.stringify({ email: 'ok@example.com' }),
      })),
      [400, 401],
    );
  });

  it('wrong methods and paths', async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        'v1',
        'tickets',
        'connections',
        'token',
        'status',
        'health',
        'astrato',
        'oms',
        '..',
        '%2e%2e',
        '%00',
      ),
      fc.string({ minLength: 1, maxLength: 12 }).map((s) => encodeURIComponent(s)),
    );
    const request = fc
      .tuple(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
        fc.array(segment, { minLength: 0, maxLength: 5 }),
      )
      .map(([method, segments]) => ({ method, path: `/${segments.join('/')}` }))
      // Requests no route of the table serves: wrong paths, and known paths with another method.
      .filter(
        ({ method, path }) =>
          !API_ROUTES.some((route) => route.method === method && routePattern(route.path).test(path)),
      )
      .map(({ method, path }) => ({
        method,
        path,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(method === 'GET' || method === 'OPTIONS' ? {} : { body: '{}' }),
      }));
    await check('methods and paths', request, [400, 401, 403, 404, 405]);
  });

  it('unknown connections on real routes', async () => {
    const id = fc.string({ minLength: 1, maxLength: 70 }).filter((s) => s !== 'astrato' && s !== 'oms');
    const request = fc.tuple(id, fc.constantFrom('token', 'status')).map(([connection, route]) => ({
      method: route === 'token' ? 'POST' : 'GET',
      path: `/v1/connections/${encodeURIComponent(connection)}/${route}`,
      headers: { authorization: `Bearer ${key}` },
    }));
    await check('unknown connections', request, [403, 404]);
  });

  it('the process keeps serving: health and a real ticket still work', async () => {
    expect((await fetch(`${gateway.url}/v1/health`)).status).toBe(200);
    const response = await fetch(`${gateway.url}/v1/tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'still-serving@example.com', groupIds: ['sales'] }),
    });
    expect(response.status).toBe(201);
    stack.astrato.resetCounts(); // this one call was meant to reach upstream
  });
});
