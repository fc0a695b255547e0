import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { startLocalApiGateway } from '../../local/api-gateway';
import { createTable, startDynamo } from '../../local/dynamodb';
import type { LocalServer } from '../../local/http-kit';
import { scheduledEvent } from '../../local/lambda-context';
import { startSecretsManager } from '../../local/secrets-manager';
import { DynamoTokenCache } from '../../shared/adapters/dynamo-token-cache';
import { type Clock, systemClock } from '../../shared/clock';
import { apiFunction } from '../../shared/runtime/api-function';
import { ENV, readRuntimeEnvironment, SERVICE_NAMES } from '../../shared/runtime/environment';
import { createRefresherRuntime, refresherFunction } from '../../shared/runtime/refresher-function';
import { createRuntime } from '../../shared/runtime/runtime';
import { addCaller, loadApiHandler } from '../support/api-harness';
import { type BlackHole, startBlackHole } from '../support/black-hole';
import { type RunningChild, startChild } from '../support/child-process';
import { apiEvent, lambdaContext } from '../support/events';
import { eventually } from '../support/eventually';
import { ManualClock } from '../support/fakes';
import { startHostileUpstream } from '../support/hostile-upstream';
import { OutputCapture } from '../support/log-capture';
import { metricsWrittenIn } from '../support/metric-names';
import { ASTRATO_CLIENT, OMS_CLIENT, TABLE_NAME, TestStack } from '../support/stack';

/**
 * Faults, end to end through the HTTP API: for each, what the caller sees (a ticket, or the
 * documented problem with Retry-After), that no lease is left stuck, and that the table is
 * consistent afterwards.
 */
const output = new OutputCapture();
let stack: TestStack;
let gateway: LocalServer;
let key: string;
let dataDir: string;

beforeAll(async () => {
  output.start();
  dataDir = mkdtempSync(join(tmpdir(), 'tb-faults-'));
  stack = await TestStack.start({ dynamoDataDir: dataDir });
  gateway = await startLocalApiGateway({ handler: (await loadApiHandler(stack)) as never });
  ({ key } = await addCaller(stack, {
    name: 'faults',
    connections: ['astrato', 'oms'],
    anyEmail: true,
    tokens: true,
  }));
}, 30_000);

afterAll(async () => {
  output.stop();
  await gateway?.stop();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  stack.astrato.faults.clear();
  stack.keycloak.faults.clear();
  stack.secretsManager.setUnavailable(false);
});

async function ticket(email = 'fault@example.com') {
  const response = await fetch(`${gateway.url}/v1/tickets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
}

async function vend(connection = 'oms') {
  const response = await fetch(`${gateway.url}/v1/connections/${connection}/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The API as a new Lambda container would run it (its own empty memory). */
async function freshGateway(): Promise<LocalServer> {
  let handler: unknown;
  await jest.isolateModulesAsync(async () => {
    handler = await loadApiHandler(stack);
  });
  return startLocalApiGateway({ handler: handler as never });
}

/** Waits for a refresh-once child to print its outcome. */
function resultOf(child: RunningChild): Promise<string> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const line = child
        .output()
        .split('\n')
        .find((entry) => entry.startsWith('RESULT ') || entry.startsWith('ERROR '));
      if (line) {
        clearInterval(poll);
        resolve(line);
      }
    }, 20);
  });
}

async function items(): Promise<Record<string, unknown>[]> {
  const { Items } = await stack
    .documentClient()
    .send(new ScanCommand({ TableName: TABLE_NAME, ConsistentRead: true }));
  return Items ?? [];
}

/** Table consistent: no lease left, and any stored token is one the upstream minted and still valid. */
async function expectConsistent(): Promise<void> {
  const all = await items();
  expect(all.filter((item) => String(item.pk).startsWith('lease#'))).toEqual([]);
  const minted = new Set([...stack.astrato.tokensIssued(), ...stack.keycloak.tokensIssued()]);
  for (const token of all.filter((item) => String(item.pk).startsWith('token#'))) {
    expect(minted.has(String(token.accessToken))).toBe(true);
    expect(Number(token.expiresAt)).toBeGreaterThan(Date.now());
  }
}

/** Makes the next ticket need a new token: the cached one is revoked at the vendor (setup answers 401). */
function revokeAstratoTokens(): void {
  stack.astrato.revokeAllTokens();
  stack.astrato.resetCounts();
}

describe('token endpoint faults (the next ticket must renew its token)', () => {
  beforeAll(async () => {
    expect((await ticket()).status).toBe(201);
  });

  it.each([
    ['a 503, once', { status: 503, count: 1 }],
    ['a 429 with Retry-After: 1, once', { status: 429, retryAfter: '1', count: 1 }],
    ['a dropped connection, once', { drop: true, count: 1 }],
    ['a timeout, once', { latencyMs: 1500, count: 1 }],
  ])('%s: retried, the caller gets a ticket', async (_label, fault) => {
    revokeAstratoTokens();
    stack.astrato.faults.set('token', fault);
    const response = await ticket();
    expect(response.status).toBe(201);
    expect(stack.astrato.counts().token).toBe(2);
    await expectConsistent();
  });

  it('503 asking for 120 s: 503 upstream_unavailable with Retry-After 120, then recovery', async () => {
    revokeAstratoTokens();
    stack.astrato.faults.set('token', { status: 503, retryAfter: '120' });
    const response = await ticket();
    expect(response).toMatchObject({
      status: 503,
      retryAfter: '120',
      body: { code: 'upstream_unavailable' },
    });
    await expectConsistent();
    stack.astrato.faults.clear();
    expect((await ticket()).status).toBe(201);
  });

  it('timeouts that persist: 504 within the budget', async () => {
    revokeAstratoTokens();
    stack.astrato.faults.set('token', { latencyMs: 1500 });
    const response = await ticket();
    expect(response).toMatchObject({ status: 504, body: { code: 'upstream_unavailable' } });
    await expectConsistent();
  }, 20_000);

  it('dropped connections that persist: 503', async () => {
    revokeAstratoTokens();
    stack.astrato.faults.set('token', { drop: true });
    expect(await ticket()).toMatchObject({ status: 503, body: { code: 'upstream_unavailable' } });
    await expectConsistent();
  });

  it.each([
    ['malformed JSON', { status: 200, body: '{"access_token":', contentType: 'application/json' }],
    ['the wrong content type', { status: 200, body: '<html>maintenance</html>', contentType: 'text/html' }],
  ])('%s: 502 upstream_rejected, not retried', async (_label, fault) => {
    revokeAstratoTokens();
    stack.astrato.faults.set('token', fault);
    expect(await ticket()).toMatchObject({ status: 502, body: { code: 'upstream_rejected' } });
    expect(stack.astrato.counts().token).toBe(1);
    await expectConsistent();
  });

  it('after every fault above, a later request succeeds at once (no lease to wait for)', async () => {
    revokeAstratoTokens();
    expect((await ticket()).status).toBe(201);
    await expectConsistent();
  });
});

describe('/oem/setup faults', () => {
  it('a 5xx once: the ticket is issued', async () => {
    stack.astrato.faults.set('setup', { status: 500, count: 1 });
    expect((await ticket()).status).toBe(201);
  });

  it('a 5xx that persists: 503', async () => {
    stack.astrato.faults.set('setup', { status: 502 });
    expect(await ticket()).toMatchObject({ status: 503, body: { code: 'upstream_unavailable' } });
  });

  it('timeouts that persist: 504', async () => {
    stack.astrato.faults.set('setup', { latencyMs: 1500 });
    expect(await ticket()).toMatchObject({ status: 504, body: { code: 'upstream_unavailable' } });
  }, 20_000);
});

describe('Secrets Manager unavailable', () => {
  it('with the secret cached: tokens are still renewed, tickets flow', async () => {
    expect((await ticket()).status).toBe(201); // the secret is cached by now
    stack.secretsManager.setUnavailable(true);
    revokeAstratoTokens();
    expect((await ticket()).status).toBe(201);
    expect(stack.astrato.counts().token).toBe(1);
  });

  it('with nothing cached (a new container): 503, then recovery', async () => {
    const fresh = await freshGateway();
    try {
      await stack
        .documentClient()
        .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
      stack.secretsManager.setUnavailable(true);
      const refused = await fetch(`${fresh.url}/v1/connections/oms/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('upstream_unavailable');
      stack.secretsManager.setUnavailable(false);
      // Backed off after failing, Secrets Manager is probed again after the back-off: then served.
      const served = await eventually(async () => {
        const response = await fetch(`${fresh.url}/v1/connections/oms/token`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}` },
        });
        if (response.status !== 200) throw new Error(`still ${response.status}`);
        return response;
      });
      expect(served.status).toBe(200);
    } finally {
      await fresh.stop();
    }
    await expectConsistent();
  });
});

describe('DynamoDB stopped and restarted mid-run', () => {
  it('tickets keep flowing for known callers; the table is consistent after the restart', async () => {
    expect((await ticket()).status).toBe(201);
    const { port } = stack.dynamo;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await ticket(`before-${i}@example.com`)).status);
    await stack.dynamo.stop();
    for (let i = 0; i < 5; i++) statuses.push((await ticket(`during-${i}@example.com`)).status);
    // A caller never seen by this container cannot be verified while the table is down: 503, not 500.
    const stranger = await addCaller(stack, {
      name: 'stranger',
      connections: ['astrato'],
      anyEmail: true,
    }).catch(() => undefined);
    expect(stranger).toBeUndefined();
    const restarted = await startDynamo({ port, dataDir });
    try {
      await createTable({ endpoint: restarted.endpoint, tableName: TABLE_NAME });
      for (let i = 0; i < 5; i++) statuses.push((await ticket(`after-${i}@example.com`)).status);
      expect(statuses).toEqual(Array.from({ length: 15 }, () => 201));
      await expectConsistent();
    } finally {
      await restarted.stop();
      // Give the rest of the suite the table back under the stack's own handle.
      Object.assign(stack, { dynamo: await startDynamo({ port, dataDir }) });
    }
  });

  it('an unknown caller while the table is down gets 503 with Retry-After, never 500', async () => {
    const { key: strangerKey } = await addCaller(stack, {
      name: 'stranger',
      connections: ['astrato'],
      anyEmail: true,
    });
    await stack.dynamo.stop();
    try {
      const response = await fetch(`${gateway.url}/v1/tickets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${strangerKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'x@example.com' }),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
    } finally {
      Object.assign(stack, { dynamo: await startDynamo({ port: stack.dynamo.port, dataDir }) });
    }
  });
});

describe('the refresher crashing half-way', () => {
  const refresher = (streamName: string): Promise<RunningChild> =>
    startChild(process.execPath, ['--import', 'tsx', 'test/support/refresh-once.ts'], /(STARTED)/, {
      env: { ...process.env, ...stack.environment(), AWS_LAMBDA_LOG_STREAM_NAME: streamName },
    });

  async function leaseOf(connection: string): Promise<Record<string, unknown> | undefined> {
    return (await items()).find((item) => item.pk === `lease#${connection}`);
  }

  async function killWhileHoldingLease(streamName: string): Promise<Record<string, unknown>> {
    await stack.documentClient().send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
    stack.keycloak.faults.set('token', { latencyMs: 4000 });
    const child = await refresher(streamName);
    let lease: Record<string, unknown> | undefined;
    // A child process can take long to start on a loaded machine: wait for the lease, not a time.
    for (let i = 0; i < 600 && !lease; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      lease = await leaseOf('oms');
    }
    child.process.kill('SIGKILL');
    await child.stop();
    stack.keycloak.faults.clear();
    if (!lease) throw new Error('the refresher never took the lease');
    return lease;
  }

  it('the same execution environment, restarted, takes over its own dead lease at once', async () => {
    const owner = '2026/11/22/[$LATEST]crashed';
    const dead = await killWhileHoldingLease(owner);
    expect(dead.owner).toBe(owner);
    // The dead lease is made to run for another hour: a restarted refresher that waited for it
    // to lapse would give up at its deadline (RESULT never printed, ERROR instead). Only taking
    // it over as its own lets it finish; no clock is read.
    const hourFromNow = Number(dead.leaseUntil) + 3_600_000;
    await stack.documentClient().send(
      new PutCommand({
        TableName: TABLE_NAME,
        Item: { ...dead, leaseUntil: hourFromNow, ttl: Math.ceil(hourFromNow / 1000) + 3600 },
      }),
    );
    const restarted = await refresher(owner);
    const done = await resultOf(restarted);
    await restarted.stop();
    expect(done).toMatch(/^RESULT /);
    const summary = JSON.parse(done.slice('RESULT '.length)) as {
      results: { connection: string; action: string }[];
    };
    expect(summary.results).toContainEqual(expect.objectContaining({ connection: 'oms', action: 'renewed' }));
    await expectConsistent();
  }, 60_000);

  it('another process waits for the dead holder’s lease to lapse (heartbeats stopped), then serves', async () => {
    const dead = await killWhileHoldingLease('2026/11/22/[$LATEST]other');
    const response = await vend('oms');
    expect(response.status).toBe(200);
    expect(Date.now()).toBeGreaterThanOrEqual(Number(dead.leaseUntil) - 100);
    await expectConsistent();
  }, 30_000);

  it('a live holder keeps its lease with heartbeats: no second token call while it works', async () => {
    await stack.documentClient().send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
    stack.keycloak.resetCounts();
    // Two 503s asking for 3 s each keep the holder busy for over 6 s: longer than one lease (5 s).
    stack.keycloak.faults.set('token', { status: 503, retryAfter: '3', count: 2 });
    const child = await refresher('2026/11/22/[$LATEST]slow-but-alive');
    for (let i = 0; i < 100 && !(await leaseOf('oms')); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    // A new API container (empty memory) needs the token now: it must wait for the holder.
    const container = await freshGateway();
    try {
      const response = await fetch(`${container.url}/v1/connections/oms/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('server-timing')).toBe('token;desc="waited"');
    } finally {
      await container.stop();
    }
    expect(await resultOf(child)).toMatch(/^RESULT /);
    await child.stop();
    expect(stack.keycloak.counts().token).toBe(3); // the holder's three attempts, none from the waiter
    await expectConsistent();
  }, 30_000);
});

describe('rotation while traffic runs', () => {
  it('tickets keep flowing; the new secret version is used from then on', async () => {
    const results: number[] = [];
    let rotatedVersion = '';
    const traffic = (async () => {
      for (let i = 0; i < 40; i++) {
        results.push((await ticket(`rotation-${i}@example.com`)).status);
        if (i === 15) {
          const rotated = 'astrato-rotated-during-traffic';
          stack.astrato.rotateClientSecret(ASTRATO_CLIENT.clientId, rotated);
          rotatedVersion = stack.secretsManager.putSecret(
            'ticket-broker/astrato',
            JSON.stringify({ clientId: ASTRATO_CLIENT.clientId, clientSecret: rotated }),
          );
          stack.astrato.revokeAllTokens(); // the vendor invalidates tokens of the old secret
        }
      }
    })();
    try {
      await traffic;
      expect(results).toEqual(Array.from({ length: 40 }, () => 201));
      const token = (await items()).find((item) => item.pk === 'token#astrato');
      expect(token?.secretVersion).toBe(rotatedVersion);
      await expectConsistent();
    } finally {
      // Back to the credentials the stack started with, at the partner and in the secret: the tests
      // after this one (a restarted Secrets Manager is seeded with them) expect them.
      stack.astrato.rotateClientSecret(ASTRATO_CLIENT.clientId, ASTRATO_CLIENT.clientSecret);
      stack.secretsManager.putSecret('ticket-broker/astrato', JSON.stringify(ASTRATO_CLIENT));
    }
  });
});

describe('dependencies that accept the connection and never answer (black holes)', () => {
  type Invoke = (
    event: ReturnType<typeof apiEvent>,
    context: Context,
  ) => Promise<{ statusCode?: number; body?: string; headers?: Record<string, unknown> }>;

  /** A new API container with its own clock: the same wiring as the deployed function. */
  const apiContainer = (clock: Clock, env: NodeJS.ProcessEnv = stack.environment()) =>
    apiFunction(createRuntime(readRuntimeEnvironment(env), { clock })) as unknown as Invoke;

  const ticketEvent = (callerKey: string, email = 'hole@example.com') =>
    apiEvent({
      method: 'POST',
      path: '/v1/tickets',
      headers: { authorization: `Bearer ${callerKey}`, 'content-type': 'application/json' },
      body: { email },
    });

  async function statusOf(call: Promise<{ statusCode?: number; body?: string }>) {
    const result = await call;
    return { status: result.statusCode, code: (JSON.parse(result.body ?? '{}') as { code?: string }).code };
  }

  /** A black hole for the test, stopped after it. */
  async function withBlackHole(test: (hole: BlackHole) => Promise<void>): Promise<void> {
    const hole = await startBlackHole();
    try {
      await test(hole);
    } finally {
      await hole.stop();
    }
  }

  /** The refresher as a new container runs it, with the configuration `env` points at. */
  const refresherContainer = (env: NodeJS.ProcessEnv) =>
    refresherFunction(
      createRefresherRuntime(
        readRuntimeEnvironment({ ...env, [ENV.serviceName]: SERVICE_NAMES.refreshTokens }),
      ),
    ) as unknown as (event: unknown, context: Context) => Promise<unknown>;

  /** An environment whose configuration is the stack's with one connection's settings changed. */
  function withConnectionChanged(
    connection: 'astrato' | 'oms',
    changes: Record<string, unknown>,
    name: string,
  ) {
    const config = structuredClone(stack.config);
    const settings = config.connections[connection];
    if (!settings) throw new Error(`no connection ${connection}`);
    Object.assign(settings, changes);
    return stack.environmentWith(config, name);
  }

  /** Takes DynamoDB's place on its port (where every client points) for the test, then brings it back. */
  async function withTableHanging(test: (hole: BlackHole) => Promise<void>): Promise<void> {
    const { port } = stack.dynamo;
    await stack.dynamo.stop();
    const hole = await startBlackHole(port);
    try {
      await test(hole);
    } finally {
      await hole.stop();
      Object.assign(stack, { dynamo: await startDynamo({ port, dataDir }) });
    }
  }

  it('DynamoDB: cached callers keep getting tickets; one probe at a time, and nobody waits for it', async () => {
    const clock = new ManualClock(Date.now());
    const api = apiContainer(clock);
    const [prober, other, third] = await Promise.all(
      ['prober', 'other', 'third'].map((name) =>
        addCaller(stack, { name, connections: ['astrato'], anyEmail: true }),
      ),
    );
    if (!prober || !other || !third) throw new Error('callers not created');
    // Warm: each caller record read and held, the m2m token in memory.
    for (const caller of [prober, other, third])
      expect((await statusOf(api(ticketEvent(caller.key), lambdaContext()))).status).toBe(201);

    await withTableHanging(async (hole) => {
      // Past the caller cache (15 s) and the token's memory re-check (30 s): both need the table.
      clock.advance(31_000);
      // The first request finds out: its read times out, then it goes on with what it holds.
      expect(await statusOf(api(ticketEvent(prober.key), lambdaContext()))).toEqual({
        status: 201,
        code: undefined,
      });
      const afterFirst = hole.requests();
      expect(afterFirst).toBeGreaterThan(0);
      // Backed off: the others are served from memory without a table call.
      for (const caller of [other, third])
        expect((await statusOf(api(ticketEvent(caller.key), lambdaContext()))).status).toBe(201);
      expect(hole.requests()).toBe(afterFirst);

      // After the back-off one request probes; while it hangs, the others complete.
      clock.advance(1_001);
      let probeSettled = false;
      const probe = statusOf(api(ticketEvent(prober.key), lambdaContext())).finally(() => {
        probeSettled = true;
      });
      await hole.waitForRequests(afterFirst + 1);
      const during = await Promise.all(
        [other, third].map((caller) => statusOf(api(ticketEvent(caller.key), lambdaContext()))),
      );
      expect(during.map((result) => result.status)).toEqual([201, 201]);
      expect(probeSettled).toBe(false);
      expect((await probe).status).toBe(201);
      // Only the probing caller's record was ever asked for: no other request reached the table.
      const asked = hole.received().join('\n');
      expect(asked).toContain(`caller#${prober.keyId}`);
      expect(asked).not.toContain(`caller#${other.keyId}`);
      expect(asked).not.toContain(`caller#${third.keyId}`);
      expect(asked).not.toContain('token#');
    });
  }, 60_000);

  /** Takes the Secrets Manager stand-in's place on its port for the test. */
  async function withSecretsHanging(test: (hole: BlackHole) => Promise<void>): Promise<void> {
    const { port } = stack.secretsManager;
    await stack.secretsManager.stop();
    const hole = await startBlackHole(port);
    try {
      await test(hole);
    } finally {
      await hole.stop();
      Object.assign(stack, {
        secretsManager: await startSecretsManager({
          port,
          seed: {
            'ticket-broker/astrato': JSON.stringify(ASTRATO_CLIENT),
            'ticket-broker/oms': JSON.stringify(OMS_CLIENT),
          },
        }),
      });
    }
  }

  it('Secrets Manager: the refresher ends within its deadline and records each failure with its cause', async () => {
    const documents = stack.documentClient();
    // What /status showed before: an old success.
    for (const connection of ['astrato', 'oms'])
      await documents.send(
        new PutCommand({
          TableName: TABLE_NAME,
          Item: {
            pk: `status#${connection}`,
            connection,
            at: new Date().toISOString(),
            ok: true,
            action: 'renewed',
          },
        }),
      );
    await withSecretsHanging(async (hole) => {
      const refresh = refresherContainer(stack.environment());
      // A short invocation: the SDK's own timeouts alone would outlast it.
      const outcome = await refresh(scheduledEvent(), lambdaContext('refresh-tokens', 5_000)).then(
        () => 'completed',
        (error: Error) => error.name,
      );
      expect(outcome).toBe('RefreshIncompleteError');
      expect(hole.requests()).toBeGreaterThan(0);
    });
    const status = (await items()).filter((item) => String(item.pk).startsWith('status#'));
    for (const connection of ['astrato', 'oms']) {
      expect(status.find((item) => item.connection === connection)).toMatchObject({
        ok: false,
        action: 'failed',
        error: 'upstream_unavailable',
        cause: 'secrets_unavailable',
      });
    }
  }, 30_000);

  it('Secrets Manager: with no secret held, one request probes; the next is refused at once, no call', async () => {
    await stack
      .documentClient()
      .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#astrato' } }));
    const api = apiContainer(systemClock);
    await withSecretsHanging(async (hole) => {
      const first = await api(ticketEvent(key), lambdaContext());
      expect(first.statusCode).toBe(503);
      expect(JSON.parse(first.body ?? '{}')).toMatchObject({
        code: 'upstream_unavailable',
        detail: "The broker's secret store is unavailable right now; retry later.",
      });
      const seen = hole.requests();
      expect(seen).toBeGreaterThan(0);
      const second = await api(ticketEvent(key), lambdaContext());
      expect(second.statusCode).toBe(503);
      expect(hole.requests()).toBe(seen);
    });
    await expectConsistent();
  }, 30_000);

  it('a token endpoint: the request ends in its deadline with 504; the refresher records upstream_timeout', async () => {
    await withBlackHole(async (hole) => {
      const env = withConnectionChanged(
        'oms',
        { tokenUrl: `${hole.url}/realms/x/protocol/openid-connect/token`, timeoutMs: 1000 },
        'token-hole',
      );
      await stack
        .documentClient()
        .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
      const api = apiContainer(systemClock, env);
      const vended = await api(
        apiEvent({
          method: 'POST',
          path: '/v1/connections/oms/token',
          headers: { authorization: `Bearer ${key}` },
        }),
        lambdaContext(),
      );
      expect({ status: vended.statusCode, code: JSON.parse(vended.body ?? '{}').code }).toEqual({
        status: 504,
        code: 'upstream_unavailable',
      });
      expect(hole.requests()).toBeGreaterThan(0);
      await refresherContainer(env)(scheduledEvent(), lambdaContext('refresh-tokens', 6_000)).catch(
        () => undefined,
      );
      expect((await items()).find((item) => item.pk === 'status#oms')).toMatchObject({
        ok: false,
        error: 'upstream_unavailable',
        cause: 'upstream_timeout',
      });
      await expectConsistent();
    });
  }, 60_000);

  it('Astrato’s m2m token endpoint: the ticket ends in its deadline with 504, no lease left', async () => {
    await withBlackHole(async (hole) => {
      await stack
        .documentClient()
        .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#astrato' } }));
      const api = apiContainer(
        systemClock,
        withConnectionChanged('astrato', { baseUrl: hole.url, timeoutMs: 1000 }, 'm2m-hole'),
      );
      expect(await statusOf(api(ticketEvent(key), lambdaContext()))).toEqual({
        status: 504,
        code: 'upstream_unavailable',
      });
      // It asked the token endpoint, and never got as far as /oem/setup.
      const asked = hole.received().join('\n');
      expect(asked).toContain('/auth/proxy/m2m/token');
      expect(asked).not.toContain('/oem/setup');
      await expectConsistent();
    });
  }, 60_000);

  it('a probe URL: the refresher records probe_failed for its connection and renews the others', async () => {
    await withBlackHole(async (hole) => {
      const env = withConnectionChanged(
        'oms',
        { probeUrl: `${hole.url}/oms-api/orders`, timeoutMs: 1000 },
        'probe-hole',
      );
      await refresherContainer(env)(scheduledEvent(), lambdaContext('refresh-tokens', 20_000)).catch(
        () => undefined,
      );
      expect(hole.received().join('\n')).toContain('GET /oms-api/orders');
      const status = await items();
      expect(status.find((item) => item.pk === 'status#oms')).toMatchObject({
        ok: false,
        error: 'probe_failed',
      });
      expect(status.find((item) => item.pk === 'status#astrato')).toMatchObject({ ok: true });
      await expectConsistent();
    });
  }, 60_000);

  it('DynamoDB under the refresher: the run ends within its deadline, failed, and nothing is left half-done', async () => {
    await withTableHanging(async (hole) => {
      const refresh = refresherContainer(stack.environment());
      // A short invocation: the SDK's own timeouts and retries alone would outlast it.
      const outcome = await refresh(scheduledEvent(), lambdaContext('refresh-tokens', 5_000)).then(
        () => 'completed',
        (error: Error) => error.name,
      );
      expect(outcome).toBe('RefreshIncompleteError');
      expect(hole.requests()).toBeGreaterThan(0);
    });
    // The table back: no lease left behind by the run that could not reach it.
    await expectConsistent();
  }, 60_000);

  it('/oem/setup a black hole: 504 at the deadline, and the ticket_failed record still reaches the table', async () => {
    // An m2m token in the table, so that only /oem/setup goes to the hole (which never reads it).
    const now = Date.now();
    await new DynamoTokenCache({
      client: stack.documentClient(),
      tableName: TABLE_NAME,
      clock: systemClock,
    }).write(
      {
        connection: 'astrato',
        accessToken: 'm2m-token-for-the-black-hole',
        tokenType: 'Bearer',
        obtainedAt: now,
        expiresAt: now + 600_000,
        secretVersion: 'any',
      },
      new AbortController().signal,
    );
    const hole = await startBlackHole();
    try {
      const config = structuredClone(stack.config);
      const astrato = config.connections.astrato;
      if (astrato?.kind !== 'astrato-oem') throw new Error('unexpected configuration');
      // An attempt may take longer than the request has: the request's deadline ends the wait.
      Object.assign(astrato, { baseUrl: hole.url, timeoutMs: 10_000 });
      const api = apiContainer(systemClock, stack.environmentWith(config, 'setup-black-hole'));
      const before = output.lines().length;
      const event = ticketEvent(key, 'black-hole@example.com');
      // 4 s left in the invocation: the request's deadline is 1 s before its end, middy's 0.5 s.
      const response = await statusOf(api(event, lambdaContext('issue-ticket', 4_000)));
      expect(response).toEqual({ status: 504, code: 'upstream_unavailable' });
      expect(hole.requests()).toBeGreaterThan(0);
      expect(hole.received().join('')).toContain('POST /oem/setup');
      const records = (await items())
        .filter((item) => String(item.pk).startsWith('audit#'))
        .filter((item) => item.requestId === event.requestContext.requestId);
      expect(records.map((record) => [record.outcome, record.error]).sort()).toEqual([
        ['ticket_failed', 'upstream_timeout'],
        ['ticket_issued', undefined],
      ]);
      // Nothing for the audit alarm: no record held only by a log line.
      const lines = output.lines().slice(before);
      expect(lines.filter((line) => line.level === 'ERROR').map((line) => line.message)).toEqual([
        'request failed',
      ]);
      expect(metricsWrittenIn(lines).map((metric) => metric.metricName)).not.toContain(
        'AuditRecordsNotStored',
      );
      // The table was never in doubt: the guard did not back it off.
      expect(metricsWrittenIn(lines).map((metric) => metric.metricName)).not.toContain('TableUnavailable');
      expect((await items()).filter((item) => String(item.pk).startsWith('lease#'))).toEqual([]);
    } finally {
      await hole.stop();
      await stack
        .documentClient()
        .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#astrato' } }));
    }
  }, 30_000);

  it('/oem/setup: the ticket ends in its deadline with 504, no lease left', async () => {
    const hostile = await startHostileUpstream();
    try {
      const config = structuredClone(stack.config);
      const astrato = config.connections.astrato;
      if (astrato?.kind !== 'astrato-oem') throw new Error('unexpected configuration');
      Object.assign(astrato, { baseUrl: `${hostile.url}/setup-hang` });
      await stack
        .documentClient()
        .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#astrato' } }));
      const api = apiContainer(systemClock, stack.environmentWith(config, 'setup-hole'));
      const response = await statusOf(api(ticketEvent(key), lambdaContext()));
      expect(response).toEqual({ status: 504, code: 'upstream_unavailable' });
      expect(hostile.hits['/setup-hang/auth/proxy/m2m/token']).toBe(1);
      expect(hostile.hits['/setup-hang/oem/setup']).toBeGreaterThan(0);
      expect((await items()).filter((item) => String(item.pk).startsWith('lease#'))).toEqual([]);
    } finally {
      await hostile.stop();
      await stack
        .documentClient()
        .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#astrato' } }));
    }
  }, 60_000);
});
