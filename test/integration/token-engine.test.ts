import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type Clock, systemClock } from '../../shared/clock';
import { startDeadline } from '../../shared/deadline';
import {
  ConfigurationError,
  UpstreamRejectedError,
  UpstreamTokenRejectedError,
  UpstreamUnavailableError,
} from '../../shared/errors';
import { createLogger } from '../../shared/logging/logger';
import { SensitiveValues } from '../../shared/logging/redaction';
import { ManualClock } from '../support/fakes';
import { OutputCapture } from '../support/log-capture';
import { ASTRATO_CLIENT, OMS_CLIENT, TABLE_NAME, TestStack } from '../support/stack';

/**
 * The token engine over real sockets: dynalite, the Secrets Manager stand-in, the Astrato
 * simulator and the Keycloak-style server, through the real adapters and providers.
 */
const output = new OutputCapture();
const started: TestStack[] = [];
async function start(options?: Parameters<typeof TestStack.start>[0]): Promise<TestStack> {
  const stack = await TestStack.start(options);
  started.push(stack);
  return stack;
}
const sensitive = new SensitiveValues();
const logger = createLogger({ serviceName: 'token-engine-test', sensitive });

beforeAll(() => {
  output.start();
});

afterAll(() => {
  output.stop();
});

describe('acquisition and reuse (Astrato, real clock)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await start();
  });
  afterAll(async () => stack.stop());
  beforeEach(() => stack.astrato.resetCounts());

  it('acquires once, then serves from memory, and a second process reads L2', async () => {
    const first = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
    const a = await first.tokens.get('astrato');
    expect(a.origin).toBe('acquired');
    // Astrato answers expires_in as absolute epoch milliseconds, ten minutes out.
    expect(a.token.expiresAt - a.token.obtainedAt).toBeGreaterThan(595_000);
    expect(a.token.expiresAt - a.token.obtainedAt).toBeLessThanOrEqual(600_000);
    expect((await first.tokens.get('astrato')).origin).toBe('l1');

    const second = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
    const b = await second.tokens.get('astrato');
    expect(b.origin).toBe('l2');
    expect(b.token.accessToken).toBe(a.token.accessToken);
    expect(stack.astrato.counts().token).toBe(1);

    const { Item } = await stack
      .documentClient()
      .send(new GetCommand({ TableName: TABLE_NAME, Key: { pk: 'token#astrato' }, ConsistentRead: true }));
    expect(Item).toMatchObject({
      connection: 'astrato',
      expiresAt: a.token.expiresAt,
      obtainedAt: a.token.obtainedAt,
      secretVersion: a.token.secretVersion,
    });
    expect(Item?.ttl).toBeGreaterThan(a.token.expiresAt / 1000);
  });

  it('an upstream 401 drops the token; the renewed one works', async () => {
    const { tokens, astrato } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
    const { token } = await tokens.get('astrato');
    stack.astrato.revokeAllTokens();
    const deadline = Date.now() + 5000;
    await expect(
      astrato.setup(token.accessToken, { email: 'a@example.com' }, deadline),
    ).rejects.toBeInstanceOf(UpstreamTokenRejectedError);
    await tokens.invalidate('astrato', token);
    const renewed = await tokens.get('astrato');
    expect(renewed.origin).toBe('acquired');
    const ticket = await astrato.setup(renewed.token.accessToken, { email: 'a@example.com' }, deadline);
    expect(ticket.ticketId).toMatch(/\S{8,}/);
  });

  it('rotation: after the secret is rotated upstream and in Secrets Manager, invalid_client re-reads it once', async () => {
    const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
    const { token } = await tokens.get('astrato');
    const rotated = 'astrato-rotated-secret-2';
    stack.astrato.rotateClientSecret(ASTRATO_CLIENT.clientId, rotated);
    const newVersion = stack.secretsManager.putSecret(
      'ticket-broker/astrato',
      JSON.stringify({ clientId: ASTRATO_CLIENT.clientId, clientSecret: rotated }),
    );
    await tokens.invalidate('astrato', token);
    const renewed = await tokens.get('astrato');
    expect(renewed.token.secretVersion).toBe(newVersion);
    expect(renewed.token.secretVersion).not.toBe(token.secretVersion);
  });

  it('a secret rotated upstream only is a configuration error, raised once without retries', async () => {
    const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
    stack.astrato.rotateClientSecret(ASTRATO_CLIENT.clientId, 'only-upstream-knows-this');
    const { token } = await tokens.get('astrato');
    await tokens.invalidate('astrato', token);
    stack.astrato.resetCounts();
    await expect(tokens.get('astrato')).rejects.toBeInstanceOf(ConfigurationError);
    expect(stack.astrato.counts().token).toBe(1);
  });
});

describe('a secret still holding the deployment placeholder', () => {
  it('is misconfigured, and never sent to the token endpoint', async () => {
    const stack = await start();
    try {
      stack.secretsManager.putSecret(
        'ticket-broker/astrato',
        JSON.stringify({ clientId: 'replace-me', clientSecret: 'generated-placeholder-value' }),
      );
      const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
      const error = await tokens.get('astrato').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/still holds the deployment's placeholder/);
      expect(stack.astrato.counts().token).toBe(0);
    } finally {
      await stack.stop();
    }
  });
});

describe('expiry forms from the Astrato simulator', () => {
  it.each([
    ['duration-s', 600_000],
    ['epoch-s', 600_000],
    ['absent', 300_000],
  ] as const)('reads expires_in given as %s', async (format, lifetime) => {
    const stack = await start({ astrato: { expiresInFormat: format } });
    try {
      const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
      const { token } = await tokens.get('astrato');
      // Epoch seconds lose up to a second; durations are exact.
      expect(Math.abs(token.expiresAt - token.obtainedAt - lifetime)).toBeLessThan(1500);
    } finally {
      await stack.stop();
    }
  });
});

describe('OAuth 2.0 client credentials with the Keycloak-style server (manual clock)', () => {
  let stack: TestStack;
  let clock: ManualClock;
  beforeAll(async () => {
    clock = new ManualClock(Date.now());
    stack = await start({
      keycloak: { now: () => clock.now(), clients: [{ ...OMS_CLIENT, refreshTokens: true }] },
    });
  });
  afterAll(async () => stack.stop());

  it('gets a token, uses the refresh token when due, and falls back on invalid_grant', async () => {
    const { tokens } = stack.tokenSource({ clock, sleep: clock.sleep, log: logger, sensitive });
    const first = await tokens.get('oms');
    expect(first.origin).toBe('acquired');
    expect(first.token.refreshToken).toBeDefined();
    expect(first.token.expiresAt - first.token.obtainedAt).toBe(300_000);
    expect(stack.keycloak.grantCounts()).toEqual({ client_credentials: 1, refresh_token: 0 });

    clock.advance(200_000); // due after 180 s (2-minute window of a 5-minute token)
    const renewed = await tokens.refreshDue('oms');
    expect(renewed.action).toBe('renewed');
    expect(stack.keycloak.grantCounts()).toEqual({ client_credentials: 1, refresh_token: 1 });

    stack.keycloak.revokeRefreshTokens();
    clock.advance(200_000);
    const fallback = await tokens.refreshDue('oms');
    expect(fallback.action).toBe('renewed');
    expect(stack.keycloak.grantCounts()).toEqual({ client_credentials: 2, refresh_token: 2 });

    // The vended token works against the OMS API stand-in.
    const current = await tokens.get('oms');
    const response = await fetch(stack.keycloak.omsApiUrl, {
      headers: { authorization: `Bearer ${current.token.accessToken}` },
    });
    expect(await response.text()).toBe('Hello ! Welcome to the Astoreshop OMS API');
  });

  it('leaves a fresh token alone', async () => {
    const { tokens } = stack.tokenSource({ clock, sleep: clock.sleep, log: logger, sensitive });
    await tokens.get('oms');
    stack.keycloak.resetCounts();
    await expect(tokens.refreshDue('oms')).resolves.toMatchObject({ action: 'fresh' });
    expect(stack.keycloak.counts().token).toBe(0);
  });
});

describe('retries and error classification (Keycloak-style server)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await start();
  });
  afterAll(async () => stack.stop());
  beforeEach(async () => {
    stack.keycloak.faults.clear();
    stack.keycloak.resetCounts();
  });

  /** A fresh process with an empty cache for each case. */
  const freshSource = async (sleeps: number[] = []) => {
    await stack.documentClient().send(
      new (await import('@aws-sdk/lib-dynamodb')).DeleteCommand({
        TableName: TABLE_NAME,
        Key: { pk: 'token#oms' },
      }),
    );
    const clock: Clock = systemClock;
    return stack.tokenSource({
      clock,
      log: logger,
      sensitive,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    }).tokens;
  };

  it('honours Retry-After on a 429, then succeeds', async () => {
    const sleeps: number[] = [];
    const tokens = await freshSource(sleeps);
    stack.keycloak.faults.set('token', { status: 429, retryAfter: '2', count: 1 });
    await expect(tokens.get('oms')).resolves.toMatchObject({ origin: 'acquired' });
    expect(sleeps).toEqual([2000]);
    expect(stack.keycloak.counts().token).toBe(2);
  });

  it('retries a 503 and a dropped connection with backoff', async () => {
    const sleeps: number[] = [];
    const tokens = await freshSource(sleeps);
    stack.keycloak.faults.set('token', { status: 503, count: 1 });
    await expect(tokens.get('oms')).resolves.toMatchObject({ origin: 'acquired' });
    const tokens2 = await freshSource(sleeps);
    stack.keycloak.faults.set('token', { drop: true, count: 1 });
    await expect(tokens2.get('oms')).resolves.toMatchObject({ origin: 'acquired' });
    expect(sleeps).toHaveLength(2);
    expect(stack.keycloak.counts().token).toBe(4);
  });

  it('gives up after the attempts allowed, as upstream_unavailable', async () => {
    const tokens = await freshSource();
    stack.keycloak.faults.set('token', { status: 503 });
    const error = await tokens.get('oms').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect(stack.keycloak.counts().token).toBe(4);
  });

  it('a timeout is upstream_unavailable (timeout)', async () => {
    const tokens = await freshSource();
    stack.keycloak.faults.set('token', { latencyMs: 2500 });
    const error = await tokens
      .get('oms', { deadline: startDeadline(Date.now() + 2200, systemClock) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).timeout).toBe(true);
  });

  it('malformed JSON or the wrong content type is upstream_rejected, not retried', async () => {
    const tokens = await freshSource();
    stack.keycloak.faults.set('token', {
      status: 200,
      body: '{"access_token": ',
      contentType: 'application/json',
    });
    await expect(tokens.get('oms')).rejects.toBeInstanceOf(UpstreamRejectedError);
    stack.keycloak.faults.set('token', { status: 200, body: '<html>login</html>', contentType: 'text/html' });
    await expect(tokens.get('oms')).rejects.toBeInstanceOf(UpstreamRejectedError);
    expect(stack.keycloak.counts().token).toBe(2);
  });

  it.each([
    ['invalid_client (wrong secret)', { ...OMS_CLIENT, clientSecret: 'something-else' }],
    ['unauthorized_client (no service account)', { ...OMS_CLIENT, serviceAccountsEnabled: false }],
  ])('%s is a configuration error', async (_label, client) => {
    stack.keycloak.setClient(client);
    try {
      const tokens = await freshSource();
      await expect(tokens.get('oms')).rejects.toBeInstanceOf(ConfigurationError);
    } finally {
      stack.keycloak.setClient({ ...OMS_CLIENT });
    }
  });
});

describe('Keycloak answering a wrong secret with 401 unauthorized_client', () => {
  it('re-reads a rotated secret once, as for invalid_client', async () => {
    const stack = await start({ keycloak: { invalidClientError: 'unauthorized_client' } });
    try {
      const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
      const { token } = await tokens.get('oms');
      const rotated = 'oms-rotated:secret&2';
      stack.keycloak.rotateClientSecret(OMS_CLIENT.clientId, rotated);
      const version = stack.secretsManager.putSecret(
        'ticket-broker/oms',
        JSON.stringify({ clientId: OMS_CLIENT.clientId, clientSecret: rotated }),
      );
      await tokens.invalidate('oms', token);
      await expect(tokens.get('oms')).resolves.toMatchObject({ token: { secretVersion: version } });
    } finally {
      await stack.stop();
    }
  });
});

describe('invalid_scope', () => {
  it('is a configuration error', async () => {
    const stack = await start({ omsScope: 'orders:delete' });
    try {
      const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
      await expect(tokens.get('oms')).rejects.toBeInstanceOf(ConfigurationError);
    } finally {
      await stack.stop();
    }
  });

  it('a granted scope is passed and echoed', async () => {
    const stack = await start({ omsScope: 'orders:read', omsClientAuth: 'client_secret_post' });
    try {
      const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
      const { token } = await tokens.get('oms');
      expect(token.scope?.split(' ')).toContain('orders:read');
    } finally {
      await stack.stop();
    }
  });
});

describe('stampede: 4 processes x 50 concurrent calls on an empty cache', () => {
  it('calls the token endpoint exactly once', async () => {
    const stack = await start();
    try {
      stack.astrato.faults.set('token', { latencyMs: 150 });
      const processes = Array.from(
        { length: 4 },
        () => stack.tokenSource({ clock: systemClock, log: logger, sensitive }).tokens,
      );
      const results = await Promise.all(
        processes.flatMap((tokens) => Array.from({ length: 50 }, () => tokens.get('astrato'))),
      );
      expect(stack.astrato.counts().token).toBe(1);
      expect(new Set(results.map((result) => result.token.accessToken)).size).toBe(1);
      const origins = new Set(results.map((result) => result.origin));
      expect(origins.has('acquired')).toBe(true);
      expect(origins.has('waited')).toBe(true);
    } finally {
      await stack.stop();
    }
  });
});

describe('degraded: DynamoDB stopped', () => {
  it('get() still returns a token from upstream, and the cache works again after a restart', async () => {
    const stack = await start();
    try {
      const { tokens } = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
      const port = stack.dynamo.port;
      await stack.dynamo.stop();
      // Within a request's budget: past the deadline the source would refuse, not serve.
      const result = await tokens.get('astrato', { deadline: startDeadline(Date.now() + 5000, systemClock) });
      expect(result.origin).toBe('acquired');
      expect(stack.astrato.counts().token).toBe(1);

      const { startDynamo, createTable } = await import('../../local/dynamodb');
      const restarted = await startDynamo({ port });
      try {
        await createTable({ endpoint: restarted.endpoint, tableName: TABLE_NAME });
        const other = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
        await expect(other.tokens.get('astrato')).resolves.toMatchObject({ origin: 'acquired' });
        const third = stack.tokenSource({ clock: systemClock, log: logger, sensitive });
        await expect(third.tokens.get('astrato')).resolves.toMatchObject({ origin: 'l2' });
      } finally {
        await restarted.stop();
      }
    } finally {
      await stack.stop();
    }
  });
});

describe('logs', () => {
  it('never contain a client secret, access token or refresh token', () => {
    const text = output.text();
    expect(text.length).toBeGreaterThan(1000); // the suite did log
    const secrets = [ASTRATO_CLIENT.clientSecret, OMS_CLIENT.clientSecret, 'astrato-rotated-secret-2'];
    const tokens = started.flatMap((stack) => [
      ...stack.astrato.tokensIssued(),
      ...stack.keycloak.tokensIssued(),
    ]);
    expect(tokens.length).toBeGreaterThan(10);
    for (const value of [...secrets, ...tokens]) expect(text).not.toContain(value);
    expect(text).not.toMatch(/"(access_token|refresh_token|clientSecret)":"(?!\[redacted\])/);
  });
});
