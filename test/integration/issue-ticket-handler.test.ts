import { STATUS_CODES } from 'node:http';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { type ApiHandler, type ApiResponse, addCaller, bearer, invoke } from '../support/api-harness';
import { noDeadline } from '../support/fakes';
import { OutputCapture } from '../support/log-capture';
import { ASTRATO_CLIENT, OMS_CLIENT, TABLE_NAME, TestStack } from '../support/stack';

/**
 * The ticket-issuing function as Lambda runs it: the real handler module, API Gateway v2 events,
 * dynalite, the Secrets Manager stand-in and the simulators over real sockets.
 */
const output = new OutputCapture();
let stack: TestStack;
let handler: ApiHandler;
const keys: Record<string, string> = {};
const producedSecrets: string[] = [];

beforeAll(async () => {
  output.start();
  stack = await TestStack.start({
    extraAstratoConnections: {
      strict: { requireGroup: true },
      guarded: { denyEmails: ['Admin@Example.com', '@admins.example'] },
      custom: {
        redeemUrlTemplate: '{baseUrl}/auth/proxy/oem/ticket/{ticketId}?embed&tenant=acme',
        signOutUrl: '{baseUrl}/auth/proxy/0/sign_out?from=custom',
      },
    },
  });
  const { loadApiHandler } = await import('../support/api-harness');
  handler = await loadApiHandler(stack);
  const callers = {
    tickets: {
      name: 'Acme analytics',
      connections: ['astrato'],
      anyEmail: true,
      groupIds: ['sales', 'support'],
      groupNames: ['Sales EMEA'],
    },
    strict: {
      name: 'Strict',
      connections: ['strict'],
      anyEmail: true,
      groupIds: ['sales'],
      groupNames: ['Sales EMEA'],
    },
    custom: { name: 'Custom URLs', connections: ['custom'], anyEmail: true },
    guarded: { name: 'Any email, but not the admins', connections: ['guarded'], anyEmail: true },
    domain: { name: 'Domain-bound', connections: ['astrato'], emailDomains: ['example.com'] },
    tokens: { name: 'OMS reader', connections: ['oms'], tokens: true },
    omsNoTokens: { name: 'OMS status only', connections: ['oms'] },
    astratoTokens: { name: 'Greedy', connections: ['astrato'], anyEmail: true, tokens: true },
    disabled: { name: 'Former customer', connections: ['astrato'], anyEmail: true },
  };
  for (const [label, input] of Object.entries(callers)) {
    const { key } = await addCaller(stack, input);
    keys[label] = key;
    producedSecrets.push(key);
  }
  const disabledKeyId = /^tb_([A-Za-z0-9]+)_/.exec(keys.disabled ?? '')?.[1] ?? '';
  await new DynamoCallerStore({ client: stack.documentClient(), tableName: TABLE_NAME }).disable(
    disabledKeyId,
    new Date().toISOString(),
    noDeadline,
  );
});

afterAll(async () => {
  output.stop();
  await stack?.stop();
});

beforeEach(() => {
  stack.astrato.faults.clear();
  stack.keycloak.faults.clear();
});

function key(label: string): string {
  const value = keys[label];
  if (!value) throw new Error(`no caller ${label}`);
  return value;
}

function track(response: ApiResponse): ApiResponse {
  for (const value of [response.body.ticketId, response.body.access_token]) {
    if (typeof value === 'string') producedSecrets.push(value);
  }
  return response;
}

const ticket = async (body: unknown, callerKey = key('tickets'), headers: Record<string, string> = {}) =>
  track(
    await invoke(handler, {
      method: 'POST',
      path: '/v1/tickets',
      body,
      headers: { ...bearer(callerKey), ...headers },
    }),
  );

function expectProblem(response: ApiResponse, status: number, code: string, detail?: RegExp): void {
  expect({ status: response.status, code: response.body.code }).toEqual({ status, code });
  expect(response.headers['content-type']).toBe('application/problem+json');
  expect(response.body).toMatchObject({
    status,
    // RFC 9457 4.2.1: about:blank, titled with the status's reason phrase; `code` says which problem.
    type: 'about:blank',
    title: STATUS_CODES[status],
  });
  expect(response.body.requestId).toBe(response.requestId);
  if (detail) expect(response.body.detail).toMatch(detail);
}

describe('POST /v1/tickets', () => {
  it('issues a ticket whose embed URL signs the user in', async () => {
    const before = Date.now();
    const response = await ticket({ email: 'Ada.Lovelace@Example.com', name: 'Ada', groupIds: ['sales'] });
    expect(response.status).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const { ticketId, redeemUrl, embedUrl, signOutUrl, connection, expiresAt } = response.body as Record<
      string,
      string
    >;
    expect(connection).toBe('astrato');
    const ticketPath = `${stack.astrato.url}/auth/proxy/oem/ticket/${encodeURIComponent(ticketId ?? '')}`;
    expect(redeemUrl).toBe(`${ticketPath}?embed`);
    expect(embedUrl).toBe(`${ticketPath}/embed`);
    expect(signOutUrl).toBe(`${stack.astrato.url}/auth/proxy/0/sign_out`);
    const expiry = Date.parse(expiresAt ?? '');
    expect(expiry - before).toBeGreaterThanOrEqual(59_000);
    expect(expiry - Date.now()).toBeLessThanOrEqual(60_000);
    expect(Object.keys(response.body).sort()).toEqual([
      'connection',
      'embedUrl',
      'expiresAt',
      'redeemUrl',
      'signOutUrl',
      'ticketId',
    ]);
    // Emails are lower-cased before they reach the vendor.
    expect(stack.astrato.users().map((user) => user.email)).toContain('ada.lovelace@example.com');

    // The credentialed-fetch form signs the user in and says who it is.
    const redeemed = await fetch(redeemUrl ?? '');
    expect(redeemed.status).toBe(200);
    expect(redeemed.headers.get('set-cookie')).toMatch(/^astrato_session=/);
    expect(await redeemed.json()).toMatchObject({ email: 'ada.lovelace@example.com', groupIds: ['sales'] });
    // Single use: the top-level form of the same ticket is refused now.
    expect((await fetch(embedUrl ?? '', { redirect: 'manual' })).status).toBe(401);
  });

  it('the top-level embedUrl of a fresh ticket signs the user in and opens the vendor UI', async () => {
    const { embedUrl } = (await ticket({ email: 'top@example.com' })).body as Record<string, string>;
    const redeemed = await fetch(embedUrl ?? '', { redirect: 'manual' });
    expect(redeemed.status).toBe(302);
    expect(redeemed.headers.get('set-cookie')).toMatch(/^astrato_session=/);
  });

  it('passes groupNames to the vendor, alone or with groupIds', async () => {
    for (const [body, expected] of [
      [{ groupNames: ['Sales EMEA'] }, { groupIds: [], groupNames: ['Sales EMEA'] }],
      [
        { groupIds: ['sales'], groupNames: ['Sales EMEA', 'Sales EMEA'] },
        { groupIds: ['sales'], groupNames: ['Sales EMEA'] },
      ],
    ] as const) {
      const response = await ticket({ email: 'names@example.com', ...body });
      expect(response.status).toBe(201);
      const redeemed = await fetch(String(response.body.redeemUrl));
      expect(await redeemed.json()).toMatchObject({ email: 'names@example.com', ...expected });
    }
  });

  it('fills redeemUrl and signOutUrl from the connection templates', async () => {
    const response = await ticket({ email: 'custom@example.com' }, key('custom'));
    expect(response.status).toBe(201);
    const { ticketId, redeemUrl, signOutUrl } = response.body as Record<string, string>;
    expect(redeemUrl).toBe(
      `${stack.astrato.url}/auth/proxy/oem/ticket/${encodeURIComponent(ticketId ?? '')}?embed&tenant=acme`,
    );
    expect(signOutUrl).toBe(`${stack.astrato.url}/auth/proxy/0/sign_out?from=custom`);
  });

  it('requireGroup: a request with groupIds or groupNames is issued', async () => {
    expect((await ticket({ email: 'g@example.com', groupIds: ['sales'] }, key('strict'))).status).toBe(201);
    expect((await ticket({ email: 'g@example.com', groupNames: ['Sales EMEA'] }, key('strict'))).status).toBe(
      201,
    );
  });

  it('an escaped surrogate pair is one character: accepted (a lone half is refused, below)', async () => {
    const response = await ticket('{"email":"pair@example.com","name":"Ada \\ud83d\\ude00"}');
    expect(response.status).toBe(201);
    expect(stack.astrato.users()).toContainEqual(
      expect.objectContaining({ email: 'pair@example.com', name: 'Ada \u{1F600}' }),
    );
  });

  it('reuses the warm token: a second ticket makes no token call', async () => {
    await ticket({ email: 'warm@example.com' });
    stack.astrato.resetCounts();
    const response = await ticket({ email: 'warm@example.com' });
    expect(response.status).toBe(201);
    expect(stack.astrato.counts()).toMatchObject({ token: 0, setup: 1 });
    expect(response.headers['server-timing']).toBe('token;desc="l1"');
  });

  it('renews the token once when setup answers 401, and still issues the ticket', async () => {
    await ticket({ email: 'renew@example.com' });
    stack.astrato.revokeAllTokens();
    stack.astrato.resetCounts();
    const response = await ticket({ email: 'renew@example.com' });
    expect(response.status).toBe(201);
    expect(stack.astrato.counts()).toMatchObject({ token: 1, setup: 2 });
  });

  it('accepts the connection explicitly, and the body base64-encoded as API Gateway may send it', async () => {
    const body = Buffer.from(JSON.stringify({ connection: 'astrato', email: 'b64@example.com' })).toString(
      'base64',
    );
    const response = track(
      await invoke(handler, { body, isBase64Encoded: true, headers: { ...bearer(key('tickets')) } }),
    );
    expect(response.status).toBe(201);
  });
});

describe('other routes', () => {
  it('GET /v1/health needs no key', async () => {
    const response = await invoke(handler, {
      method: 'GET',
      path: '/v1/health',
      headers: { authorization: undefined },
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('POST /v1/connections/oms/token vends a working token', async () => {
    const response = track(
      await invoke(handler, {
        method: 'POST',
        path: '/v1/connections/oms/token',
        headers: bearer(key('tokens')),
      }),
    );
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: expect.any(Number),
      expires_at: expect.any(String),
    });
    expect(response.body.expires_in).toBeGreaterThan(290);
    expect(response.body.expires_in).toBeLessThanOrEqual(300);
    const oms = await fetch(stack.keycloak.omsApiUrl, {
      headers: { authorization: `Bearer ${String(response.body.access_token)}` },
    });
    expect(await oms.text()).toBe('Hello ! Welcome to the Astoreshop OMS API');
  });

  it('GET /v1/connections/oms/status reports the token state and never its value', async () => {
    await invoke(handler, {
      method: 'POST',
      path: '/v1/connections/oms/token',
      headers: bearer(key('tokens')),
    });
    const response = await invoke(handler, {
      method: 'GET',
      path: '/v1/connections/oms/status',
      headers: bearer(key('tokens')),
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      connection: 'oms',
      kind: 'oauth2-client-credentials',
      token: { state: 'fresh', expiresAt: expect.any(String), obtainedAt: expect.any(String) },
      lastRefresh: null,
    });
    for (const token of stack.keycloak.tokensIssued()) expect(response.raw).not.toContain(token);
  });

  it('unknown paths are 404 and known paths with the wrong method 405 with Allow', async () => {
    expectProblem(
      await invoke(handler, { method: 'GET', path: '/v1/nope' }),
      404,
      'invalid_request',
      /no such route/,
    );
    const wrong = await invoke(handler, {
      method: 'GET',
      path: '/v1/tickets',
      headers: bearer(key('tickets')),
    });
    expectProblem(wrong, 405, 'invalid_request', /method not allowed/);
    expect(wrong.headers.allow).toBe('POST');
    expectProblem(
      await invoke(handler, { method: 'DELETE', path: '/v1/connections/oms/status' }),
      405,
      'invalid_request',
    );
  });

  it('a caller key pasted into a path is not echoed in the 404 or 405 detail', async () => {
    const pasted = key('tickets');
    const notFound = await invoke(handler, { method: 'GET', path: `/v1/tickets/${pasted}` });
    expectProblem(notFound, 404, 'invalid_request', /no such route: \/v1\/tickets\/\[redacted\]/);
    const wrongMethod = await invoke(handler, { method: 'GET', path: `/v1/connections/${pasted}/status` });
    expect(wrongMethod.status).toBeGreaterThanOrEqual(400);
    expect(wrongMethod.status).toBeLessThan(500);
    for (const response of [notFound, wrongMethod]) expect(response.raw).not.toContain(pasted.split('_')[2]);
  });
});

describe('caller authentication (401)', () => {
  const unknownKey = `tb_AAAAAAAAAAAAAAAA_${'x'.repeat(43)}`;
  it.each([
    ['missing key', {}, /missing Authorization/],
    ['not a bearer', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /must be "Bearer/],
    ['malformed key', { authorization: 'Bearer not-a-caller-key' }, /malformed caller key/],
    ['unknown key', { authorization: `Bearer ${unknownKey}` }, /unknown or invalid caller key/],
  ])('%s', async (_label, headers, detail) => {
    stack.astrato.resetCounts();
    const response = await invoke(handler, {
      body: { email: 'x@example.com' },
      headers: { authorization: undefined, ...headers },
    });
    expectProblem(response, 401, 'unauthorized', detail);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(stack.astrato.counts()).toMatchObject({ token: 0, setup: 0 });
  });

  it('a known key id with the wrong secret', async () => {
    const keyId = /^tb_([A-Za-z0-9]+)_/.exec(key('tickets'))?.[1];
    const wrong = `tb_${keyId}_${'A'.repeat(43)}`;
    expect(wrong).not.toBe(key('tickets'));
    expectProblem(await ticket({ email: 'x@example.com' }, wrong), 401, 'unauthorized', /unknown or invalid/);
  });

  it('a disabled caller', async () => {
    expectProblem(await ticket({ email: 'x@example.com' }, key('disabled')), 401, 'unauthorized', /disabled/);
  });
});

describe('scopes (403/404), never reaching upstream', () => {
  beforeEach(() => stack.astrato.resetCounts());
  afterEach(() => {
    expect(stack.astrato.counts()).toMatchObject({ token: 0, setup: 0 });
  });

  it('wrong connection: a caller without tickets on it', async () => {
    expectProblem(
      await ticket({ connection: 'astrato', email: 'x@example.com' }, key('tokens')),
      403,
      'forbidden',
      /may not mint tickets on connection "astrato"/,
    );
    expectProblem(
      await ticket({ email: 'x@example.com' }, key('tokens')),
      403,
      'forbidden',
      /may not mint tickets/,
    );
  });

  it('tickets on a connection that is not astrato-oem', async () => {
    expectProblem(
      await ticket({ connection: 'oms', email: 'x@example.com' }, key('tokens')),
      403,
      'forbidden',
    );
  });

  it('a percent-encoded, malformed connection id in the path (found by the fuzzer: was a 500)', async () => {
    for (const path of [
      '/v1/connections/%25%20/token',
      '/v1/connections/%E0%A4%A/status',
      '/v1/connections/%2F/token',
    ]) {
      const response = await invoke(handler, {
        method: path.endsWith('token') ? 'POST' : 'GET',
        path,
        headers: bearer(key('tokens')),
      });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('invalid_request');
    }
  });

  it('unknown connection', async () => {
    expectProblem(
      await ticket({ connection: 'nope', email: 'x@example.com' }),
      404,
      'unknown_connection',
      /"nope"/,
    );
  });

  it('a group not allowed', async () => {
    expectProblem(
      await ticket({ email: 'x@example.com', groupIds: ['sales', 'admins'] }),
      403,
      'forbidden',
      /groupIds not allowed for this caller: "admins"/,
    );
  });

  it('a group name not allowed (exact match), and group ids are no group names', async () => {
    for (const [groupNames, refused] of [
      [['Sales EMEA', 'Admins'], '"Admins"'],
      [['sales emea'], '"sales emea"'],
      [['sales'], '"sales"'],
    ] as const) {
      expectProblem(
        await ticket({ email: 'x@example.com', groupNames }),
        403,
        'forbidden',
        new RegExp(`groupNames not allowed for this caller: ${refused}`),
      );
    }
  });

  it('requireGroup: neither groupIds nor groupNames is refused with 400, saying why', async () => {
    for (const body of [
      { email: 'nogroup@example.com' },
      { email: 'nogroup@example.com', groupIds: [], groupNames: [] },
    ]) {
      expectProblem(
        await ticket(body, key('strict')),
        400,
        'invalid_request',
        /requires groupIds or groupNames: without a group the vendor would create a user without any permission/,
      );
    }
  });

  it.each([
    ['an exact address (matched lower-case)', 'ADMIN@example.com'],
    ['an @domain entry', 'root@admins.example'],
  ])(
    'denyEmails: %s is refused with 403 before any upstream call, even for an any-email caller',
    async (_label, email) => {
      stack.astrato.resetCounts();
      const response = await ticket({ email }, key('guarded'));
      expectProblem(response, 403, 'forbidden', /denyEmails/);
      expect(stack.astrato.counts()).toMatchObject({ token: 0, setup: 0 });
      // The same caller gets other emails, so the refusal is the deny list's.
      expect((await ticket({ email: 'ada@example.com' }, key('guarded'))).status).toBe(201);
      stack.astrato.resetCounts();
    },
  );

  it('groups requested by a caller allowed none', async () => {
    expectProblem(
      await ticket({ email: 'x@example.com', groupIds: ['sales'] }, key('domain')),
      403,
      'forbidden',
    );
  });

  it('an email domain not allowed', async () => {
    expectProblem(
      await ticket({ email: 'x@evil.example' }, key('domain')),
      403,
      'forbidden',
      /email domain "evil.example" is not allowed/,
    );
    expect((await ticket({ email: 'x@example.com' }, key('domain'))).status).toBe(201);
    stack.astrato.resetCounts();
  });

  it('token vending without the tokens scope', async () => {
    const response = await invoke(handler, {
      method: 'POST',
      path: '/v1/connections/oms/token',
      headers: bearer(key('omsNoTokens')),
    });
    expectProblem(response, 403, 'forbidden', /may not read tokens/);
  });

  it('astrato-oem tokens are never vended, even to a caller with the tokens scope', async () => {
    const response = await invoke(handler, {
      method: 'POST',
      path: '/v1/connections/astrato/token',
      headers: bearer(key('astratoTokens')),
    });
    expectProblem(response, 403, 'forbidden', /never handed out/);
  });

  it('status of a connection the caller is not scoped to', async () => {
    const response = await invoke(handler, {
      method: 'GET',
      path: '/v1/connections/astrato/status',
      headers: bearer(key('tokens')),
    });
    expectProblem(response, 403, 'forbidden');
  });

  it('status of a connection the caller is scoped to with neither tickets nor tokens', async () => {
    const response = await invoke(handler, {
      method: 'GET',
      path: '/v1/connections/oms/status',
      headers: bearer(key('omsNoTokens')),
    });
    expectProblem(response, 403, 'forbidden', /neither tickets nor tokens on connection "oms"/);
  });
});

describe('validation (4xx naming the problem, no upstream call)', () => {
  beforeEach(() => stack.astrato.resetCounts());
  afterEach(() => {
    expect(stack.astrato.counts()).toMatchObject({ token: 0, setup: 0 });
  });

  it.each([
    ['an unknown field', { email: 'a@example.com', admin: true }, /unknown field "admin"/],
    ['email of the wrong type', { email: 42 }, /^email: /],
    ['a missing email', { name: 'Ada' }, /^email: /],
    ['a bad email', { email: 'not-an-email' }, /email: must be a valid email address/],
    ['control characters in the email', { email: 'a\u0000b@example.com' }, /email: /],
    [
      'groupIds not an array',
      { email: 'a@example.com', groupIds: 'sales' },
      /groupIds: must be an array of strings/,
    ],
    ['a group id not a string', { email: 'a@example.com', groupIds: [1] }, /groupIds\.0: /],
    [
      'more than 50 group ids',
      { email: 'a@example.com', groupIds: Array.from({ length: 51 }, (_, i) => `g${i}`) },
      /groupIds: must have at most 50 entries/,
    ],
    [
      'groupNames not an array',
      { email: 'a@example.com', groupNames: 'Sales EMEA' },
      /groupNames: must be an array of strings/,
    ],
    ['a group name not a string', { email: 'a@example.com', groupNames: [null] }, /groupNames\.0: /],
    ['an empty group name', { email: 'a@example.com', groupNames: [''] }, /groupNames\.0: must not be empty/],
    [
      'a group name with control characters',
      { email: 'a@example.com', groupNames: ['Sales\u0000'] },
      /group name must not contain control characters/,
    ],
    [
      'more than 50 group names',
      { email: 'a@example.com', groupNames: Array.from({ length: 51 }, (_, i) => `Group ${i}`) },
      /groupNames: must have at most 50 entries/,
    ],
    [
      'a name with control characters',
      { email: 'a@example.com', name: 'Ada\u0007' },
      /name must not contain control/,
    ],
    [
      'a connection id of the wrong shape',
      { connection: 'Astrato!', email: 'a@example.com' },
      /^connection: /,
    ],
    ['an array body', [{ email: 'a@example.com' }], /body must be a JSON object/],
    ['a JSON string body', '"a@example.com"', /body must be a JSON object/],
  ])('%s', async (_label, body, detail) => {
    expectProblem(await ticket(body), 400, 'invalid_request', detail);
  });

  it.each([
    ['in a value', '{"email":"a@example.com","name":"\\ud800"}'],
    ['a low half alone', '{"email":"a@example.com","name":"Ada \\udc00"}'],
    ['in a key', '{"email":"a@example.com","\\udbff":1}'],
    ['in a list', '{"email":"a@example.com","groupNames":["ok","x\\ud83d"]}'],
  ])('an escaped lone surrogate %s (well-formed bytes, no character): 400', async (_label, body) => {
    expectProblem(await ticket(body), 400, 'invalid_request', /lone surrogate/);
  });

  it('a body that is not JSON', async () => {
    expectProblem(await ticket('{"email": '), 400, 'invalid_request', /body is not valid JSON/);
  });

  it('duplicate keys (ambiguous: refused)', async () => {
    expectProblem(
      await ticket('{"email":"a@example.com","email":"b@evil.example"}'),
      400,
      'invalid_request',
      /key "email" more than once/,
    );
  });

  it('an empty body', async () => {
    expectProblem(await ticket(''), 400, 'invalid_request', /body is required/);
  });

  it('a body over 16 KiB', async () => {
    const response = await ticket({ email: 'a@example.com', name: 'x'.repeat(17_000) });
    expectProblem(response, 413, 'payload_too_large', /limit is 16384/);
  });

  it.each([
    ['text/plain', /Content-Type must be application\/json/],
    ['application/x-www-form-urlencoded', /Content-Type must be application\/json/],
    ['application/json; charset=latin1', /must be UTF-8/],
  ])('content type %s', async (contentType, detail) => {
    expectProblem(
      await ticket({ email: 'a@example.com' }, key('tickets'), { 'content-type': contentType }),
      415,
      'invalid_request',
      detail,
    );
  });

  it('no content type', async () => {
    const response = await invoke(handler, {
      body: { email: 'a@example.com' },
      headers: { ...bearer(key('tickets')), 'content-type': undefined },
    });
    expectProblem(response, 415, 'invalid_request', /Content-Type header is required/);
  });
});

describe('upstream failures', () => {
  it('setup 5xx asking for more time than the request has: 503 at once, passing Retry-After on', async () => {
    await ticket({ email: 'warm@example.com' });
    stack.astrato.resetCounts();
    stack.astrato.faults.set('setup', { status: 503, retryAfter: '30' });
    const response = await ticket({ email: 'x@example.com' });
    expectProblem(response, 503, 'upstream_unavailable', /unavailable right now/);
    expect(response.headers['retry-after']).toBe('30');
    // At once: one attempt, no retry waiting out a Retry-After longer than the request's budget.
    expect(stack.astrato.counts().setup).toBe(1);
    expect(response.raw).not.toMatch(/127\.0\.0\.1|astrato oem setup|stack/i);
  });

  it.each([
    ['24 nines', '999999999999999999999999', '120'],
    ['400 nines', '9'.repeat(400), '120'],
    ['a date in the year 9999', 'Fri, 31 Dec 9999 23:59:59 GMT', '120'],
    ['a negative number', '-5', undefined],
    ['an exponent', '1e3', undefined],
    ['words', 'in a while', undefined],
  ])(
    'an upstream 429 with Retry-After of %s: the caller gets a bounded whole number, or none',
    async (_label, sent, expected) => {
      await ticket({ email: 'warm@example.com' });
      stack.astrato.faults.set('setup', { status: 429, retryAfter: sent, count: 3 });
      const response = await ticket({ email: 'x@example.com' });
      expectProblem(response, 503, 'upstream_unavailable');
      expect(response.headers['retry-after']).toBe(expected);
    },
  );

  it('setup recovering after one 502: the ticket is issued', async () => {
    stack.astrato.faults.set('setup', { status: 502, count: 1 });
    expect((await ticket({ email: 'x@example.com' })).status).toBe(201);
  });

  it('setup timing out: 504', async () => {
    stack.astrato.resetCounts();
    stack.astrato.faults.set('setup', { latencyMs: 1500 });
    const response = await ticket({ email: 'slow@example.com' });
    expectProblem(response, 504, 'upstream_unavailable');
    expect(stack.astrato.counts().setup).toBe(3); // a timeout is retried, within the budget
  }, 20_000);

  it.each([['..'], ['.'], ['a/b'], ['%2e%2e'], ['..%2f..%2fadmin'], ['a?b'], ['a#b'], ['']])(
    'a ticket id that would leave the ticket path (%j): 502 upstream_rejected',
    async (ticketId) => {
      stack.astrato.faults.set('setup', { body: JSON.stringify({ ticket: ticketId }), count: 1 });
      const response = await ticket({ email: 'escape@example.com' });
      expectProblem(response, 502, 'upstream_rejected');
      expect(response.raw).not.toContain('/auth/proxy/oem/ticket/');
    },
  );

  it('setup refusing the user (400): 502 upstream_rejected', async () => {
    stack.astrato.faults.set('setup', { status: 400, count: 1 });
    expectProblem(await ticket({ email: 'x@example.com' }), 502, 'upstream_rejected', /refused the request/);
  });

  it('token endpoint down with no token cached: 503', async () => {
    const response503 = await (async () => {
      stack.keycloak.faults.set('token', { status: 503, retryAfter: '60' });
      const other = await addCaller(stack, { name: 'fresh oms', connections: ['oms'], tokens: true });
      producedSecrets.push(other.key);
      // Drop the cached OMS token so the request must acquire.
      const { DeleteCommand } = await import('@aws-sdk/lib-dynamodb');
      await stack
        .documentClient()
        .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
      const { loadApiHandler } = await import('../support/api-harness');
      let fresh: ApiHandler | undefined;
      await jest.isolateModulesAsync(async () => {
        fresh = await loadApiHandler(stack);
      });
      if (!fresh) throw new Error('handler not loaded');
      return invoke(fresh, { method: 'POST', path: '/v1/connections/oms/token', headers: bearer(other.key) });
    })();
    expectProblem(response503, 503, 'upstream_unavailable');
    expect(response503.headers['retry-after']).toBe('60');
  });

  it('credentials refused by the vendor: 500 misconfigured, generic detail', async () => {
    stack.astrato.rotateClientSecret(ASTRATO_CLIENT.clientId, 'rotated-upstream-only-secret');
    stack.astrato.revokeAllTokens();
    try {
      const response = await ticket({ email: 'x@example.com' });
      expectProblem(response, 500, 'misconfigured', /operators have been alerted/);
    } finally {
      stack.astrato.rotateClientSecret(ASTRATO_CLIENT.clientId, ASTRATO_CLIENT.clientSecret);
    }
    expect((await ticket({ email: 'x@example.com' })).status).toBe(201);
  });
});

describe('logs', () => {
  it('carry the request id on every line logged during a request', () => {
    // Every line logged inside an invocation carries Lambda's request id (`function_request_id`,
    // from the context); the invocation's one access line names the API Gateway request it served.
    // Powertools Metrics' EMF documents are the only lines without it: they carry no log fields.
    const invocations = new Map<string, Record<string, unknown>[]>();
    const withoutId: Record<string, unknown>[] = [];
    for (const line of output.lines()) {
      if (line.service !== 'issue-ticket' || '_aws' in line) continue;
      if (typeof line.function_request_id !== 'string') withoutId.push(line);
      else
        invocations.set(line.function_request_id, [
          ...(invocations.get(line.function_request_id) ?? []),
          line,
        ]);
    }
    expect(withoutId).toEqual([]);
    expect(invocations.size).toBeGreaterThan(40);
    const served: string[] = [];
    for (const lines of invocations.values()) {
      const access = lines.filter((line) => line.message === 'request');
      expect(access).toHaveLength(1);
      const requestId = String(access[0]?.requestId);
      served.push(requestId);
      expect(lines.filter((line) => line.requestId !== requestId)).toEqual([]);
    }
    // Each request's own id: none carried over from an earlier request of the same container.
    expect(new Set(served).size).toBe(served.length);
    // Not only access lines: what the use-cases, the token engine and the error map log too.
    const others = [...invocations.values()].flat().filter((line) => line.message !== 'request');
    expect(new Set(others.map((line) => line.level))).toEqual(new Set(['INFO', 'WARN', 'ERROR']));
    expect(others.map((line) => line.message)).toEqual(
      expect.arrayContaining(['request failed', 'astrato setup failed, retrying']),
    );
  });

  it('never carry a secret, token, ticket or caller key', () => {
    const text = output.text();
    const values = [
      ASTRATO_CLIENT.clientSecret,
      OMS_CLIENT.clientSecret,
      'rotated-upstream-only-secret',
      ...stack.astrato.tokensIssued(),
      ...stack.keycloak.tokensIssued(),
      ...stack.astrato.ticketsIssued(),
      ...producedSecrets,
    ];
    expect(values.length).toBeGreaterThan(20);
    for (const value of values) expect(text).not.toContain(value);
  });
});
