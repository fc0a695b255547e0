import { startLocalApiGateway } from '../../local/api-gateway';
import type { LocalServer } from '../../local/http-kit';
import { loadApiHandler } from '../support/api-harness';
import { lambdaContext } from '../support/events';
import { OutputCapture } from '../support/log-capture';
import { ASTRATO_CLIENT, OMS_CLIENT, TABLE_NAME, TestStack } from '../support/stack';

/**
 * Every client secret, access token, refresh token, ticket id and caller key this run produces is
 * searched for in all captured logs (zero hits) and in every response body and header (zero hits,
 * except where docs/design.md returns one by design: a ticket id in its own ticket response, a vendable
 * token in its own token response, a new caller key printed once by `callers create`). The run
 * includes upstream errors that echo secrets back, refusals, rotation and the refresher.
 */
const output = new OutputCapture();
const childOutput: string[] = [];
const produced = new Set<string>();

interface Exchange {
  readonly label: string;
  readonly text: string;
  /** Values this response may contain by design. */
  readonly allowed: ReadonlySet<string>;
}
const exchanges: Exchange[] = [];

let stack: TestStack;
let gateway: LocalServer;
let key = '';

async function call(
  label: string,
  method: string,
  path: string,
  options: { body?: unknown; key?: string; contentType?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      ...(options.key !== undefined ? { authorization: `Bearer ${options.key}` } : {}),
      ...(options.body !== undefined ? { 'content-type': options.contentType ?? 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  const headers = [...response.headers.entries()].map(([name, value]) => `${name}: ${value}`).join('\n');
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = {};
  }
  const allowed = new Set<string>();
  if (response.status === 201 && typeof body.ticketId === 'string') allowed.add(body.ticketId);
  if (response.status === 200 && typeof body.access_token === 'string') allowed.add(body.access_token);
  exchanges.push({ label: `${label} (${response.status})`, text: `${headers}\n${text}`, allowed });
  return { status: response.status, body };
}

async function callers(...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await stack.callers(...args);
  childOutput.push(stderr);
  if (code !== 0) throw new Error(`callers ${args[0]} exited with ${code}: ${stderr}`);
  return stdout;
}

beforeAll(async () => {
  output.start();
  stack = await TestStack.start({ keycloak: { clients: [{ ...OMS_CLIENT, refreshTokens: true }] } });
  gateway = await startLocalApiGateway({ handler: (await loadApiHandler(stack)) as never });
}, 30_000);

let summary = '';

afterAll(async () => {
  output.stop();
  if (summary) process.stderr.write(`${summary}\n`);
  await gateway?.stop();
  await stack?.stop();
});

describe('secrets never leak', () => {
  it('runs every flow that handles a secret', async () => {
    // A caller, created as operators do; its key is printed once, by design.
    const created = await callers(
      'create',
      '--name',
      'leak scan',
      '--connection',
      'astrato',
      '--connection',
      'oms',
      '--tokens',
      '--groups',
      'sales',
      '--any-email',
    );
    key = /^(tb_\S+)$/m.exec(created)?.[1] ?? '';
    expect(key).not.toBe('');
    expect(created.split(key)).toHaveLength(2);
    childOutput.push(created.replace(key, '')); // the one allowed printing
    childOutput.push(await callers('list'));
    produced.add(key);

    // Tickets, tokens, status: the happy paths.
    for (let i = 0; i < 3; i++) {
      expect(
        (
          await call('ticket', 'POST', '/v1/tickets', {
            key,
            body: { email: `u${i}@example.com`, groupIds: ['sales'] },
          })
        ).status,
      ).toBe(201);
    }
    expect((await call('vend', 'POST', '/v1/connections/oms/token', { key })).status).toBe(200);
    expect((await call('status', 'GET', '/v1/connections/oms/status', { key })).status).toBe(200);

    // 401 renewal.
    stack.astrato.revokeAllTokens();
    expect(
      (await call('ticket after revoke', 'POST', '/v1/tickets', { key, body: { email: 'r@example.com' } }))
        .status,
    ).toBe(201);

    // Upstreams that echo secrets back in their errors.
    const [astratoToken] = stack.astrato.tokensIssued().slice(-1);
    stack.astrato.faults.set('setup', {
      status: 400,
      count: 1,
      body: JSON.stringify({
        message: `token ${astratoToken} cannot create user`,
        clientSecret: ASTRATO_CLIENT.clientSecret,
      }),
    });
    expect(
      (await call('setup echoing', 'POST', '/v1/tickets', { key, body: { email: 'e@example.com' } })).status,
    ).toBe(502);
    stack.keycloak.faults.set('token', {
      status: 400,
      count: 1,
      body: JSON.stringify({
        error: 'invalid_request',
        error_description: `bad client_secret ${OMS_CLIENT.clientSecret}`,
      }),
    });
    const { DeleteCommand } = await import('@aws-sdk/lib-dynamodb');
    await stack.documentClient().send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
    const refreshed = (await import('../../functions/refresh-tokens/handler')).handler as unknown as (
      event: unknown,
      context: unknown,
    ) => Promise<unknown>;
    await refreshed({ source: 'aws.events', detail: {} }, lambdaContext('refresh-tokens')).catch(
      () => undefined,
    );
    await refreshed({ source: 'aws.events', detail: {} }, lambdaContext('refresh-tokens'));

    // Refusals with keys, right and wrong.
    const keyId = /^tb_([A-Za-z0-9]+)_/.exec(key)?.[1] ?? '';
    const wrongKey = `tb_${keyId}_${'Q'.repeat(43)}`;
    produced.add(wrongKey);
    await call('wrong secret', 'POST', '/v1/tickets', { key: wrongKey, body: { email: 'w@example.com' } });
    await call('malformed key', 'POST', '/v1/tickets', { key: `${key}!`, body: { email: 'w@example.com' } });
    await call('bad body', 'POST', '/v1/tickets', { key, body: { email: key } });
    await call('astrato token refused', 'POST', '/v1/connections/astrato/token', { key });

    // Rotation: upstream only (misconfigured), then in Secrets Manager too.
    const rotated = 'oms-rotated-secret-for-leak-scan';
    produced.add(rotated);
    stack.keycloak.rotateClientSecret(OMS_CLIENT.clientId, rotated);
    stack.keycloak.revokeAllTokens();
    await stack.documentClient().send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
    await refreshed({ source: 'aws.events', detail: {} }, lambdaContext('refresh-tokens')).catch(
      () => undefined,
    );
    stack.secretsManager.putSecret(
      'ticket-broker/oms',
      JSON.stringify({ clientId: OMS_CLIENT.clientId, clientSecret: rotated }),
    );
    await refreshed({ source: 'aws.events', detail: {} }, lambdaContext('refresh-tokens'));
    expect((await call('vend after rotation', 'POST', '/v1/connections/oms/token', { key })).status).toBe(
      200,
    );
  }, 60_000);

  it('no produced secret appears in any log line or in any response, except by design', () => {
    for (const value of [ASTRATO_CLIENT.clientSecret, OMS_CLIENT.clientSecret]) produced.add(value);
    for (const value of [
      ...stack.astrato.tokensIssued(),
      ...stack.keycloak.tokensIssued(),
      ...stack.astrato.ticketsIssued(),
    ]) {
      produced.add(value);
    }
    // The secret part of the key alone must not show up either.
    produced.add(key.slice(-43));
    expect(stack.keycloak.tokensIssued().length).toBeGreaterThan(4); // access and refresh tokens
    expect(produced.size).toBeGreaterThan(15);
    expect(exchanges.length).toBeGreaterThan(10);

    const logs = `${output.text()}\n${childOutput.join('\n')}`;
    expect(logs.length).toBeGreaterThan(2000);
    const logHits = [...produced].filter((value) => logs.includes(value));
    expect(logHits).toEqual([]);

    const responseHits: string[] = [];
    for (const exchange of exchanges) {
      for (const value of produced) {
        if (exchange.text.includes(value) && !exchange.allowed.has(value))
          responseHits.push(`${exchange.label}: ${value.slice(0, 6)}…`);
      }
    }
    expect(responseHits).toEqual([]);
    summary = `secrets-never-leak: ${produced.size} secret values searched in ${logs.length} bytes of logs and ${exchanges.length} responses: 0 hits`;
  });
});
