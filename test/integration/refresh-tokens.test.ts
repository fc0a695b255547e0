import type { Context, ScheduledEvent } from 'aws-lambda';
import { systemClock } from '../../shared/clock';
import { startDeadline } from '../../shared/deadline';
import { problemCodeOf } from '../../shared/http/problem';
import { createLogger } from '../../shared/logging/logger';
import { noTelemetry } from '../../shared/logging/ports';
import { SERVICE_NAMES } from '../../shared/runtime/environment';
import { DynamoStatusStore } from '../../shared/status/dynamo-status-store';
import { refreshPolicyFrom } from '../../shared/tokens/refresh-policy';
import { tokenProbes } from '../../shared/upstream/probe';
import { createRefresher } from '../../shared/use-cases/refresh-tokens';
import { lambdaContext } from '../support/events';
import { ManualClock, noDeadline } from '../support/fakes';
import { OutputCapture } from '../support/log-capture';
import { OMS_CLIENT, TABLE_NAME, TestStack } from '../support/stack';

/**
 * The scheduled refresher over real sockets. The simulators and the refresher share a manual
 * clock, so "due" and "expired" come without waiting.
 */
const output = new OutputCapture();
const logger = createLogger({ serviceName: 'refresh-test' });

/** When this file began: a refresh it ran is at or after it. */
const fileStart = Date.now();
beforeAll(() => output.start());
afterAll(() => output.stop());

describe('refresher use-case', () => {
  let stack: TestStack;
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    stack = await TestStack.start({
      astrato: { now: () => clock.now() },
      keycloak: { now: () => clock.now(), clients: [{ ...OMS_CLIENT, refreshTokens: true }] },
    });
  });
  afterEach(async () => stack.stop());

  /** A refresher as one Lambda container would build it (its own memory). */
  const refresher = () => {
    const { tokens } = stack.tokenSource({ clock, sleep: clock.sleep, log: logger });
    const status = new DynamoStatusStore({ client: stack.documentClient(), tableName: TABLE_NAME });
    return {
      tokens,
      status,
      run: () =>
        createRefresher({
          connections: stack.config.connections,
          tokens,
          status,
          probes: tokenProbes(stack.config.connections, { clock, log: logger }),
          publicCodeOf: problemCodeOf,
          policy: refreshPolicyFrom(stack.config.refresh),
          clock,
          log: logger,
          telemetry: noTelemetry,
          concurrency: stack.config.refresh.concurrency,
        }).run(startDeadline(clock.now() + 10_000, clock)),
    };
  };

  it('acquires missing tokens, leaves fresh ones alone, renews due ones, and records the status', async () => {
    const first = await refresher().run();
    expect(first.results.map((result) => [result.connection, result.action, result.ok])).toEqual([
      ['astrato', 'renewed', true],
      ['oms', 'renewed', true],
    ]);
    expect(first.unusable).toEqual([]);
    // The OMS probe ran with the new token.
    expect(first.results.find((result) => result.connection === 'oms')?.probeStatus).toBe(200);
    expect(stack.keycloak.counts().oms).toBe(1);

    clock.advance(60_000);
    const second = await refresher().run();
    expect(second.results.map((result) => result.action)).toEqual(['fresh', 'fresh']);
    expect(stack.astrato.counts().token).toBe(1);

    clock.advance(150_000); // OMS (5 min) is due after 3 min; Astrato (10 min) after 400 s
    const third = await refresher().run();
    expect(third.results.map((result) => [result.connection, result.action])).toEqual([
      ['astrato', 'fresh'],
      ['oms', 'renewed'],
    ]);
    clock.advance(200_000);
    const fourth = await refresher().run();
    expect(fourth.results.find((result) => result.connection === 'astrato')?.action).toBe('renewed');
    expect(stack.astrato.counts().token).toBe(2);

    const { status } = refresher();
    await expect(status.read('oms', noDeadline)).resolves.toMatchObject({
      ok: true,
      at: new Date(clock.now()).toISOString(),
    });
  });

  it('uses the refresh token where the server issued one', async () => {
    await refresher().run();
    expect(stack.keycloak.grantCounts()).toEqual({ client_credentials: 1, refresh_token: 0 });
    clock.advance(200_000);
    await refresher().run();
    expect(stack.keycloak.grantCounts()).toEqual({ client_credentials: 1, refresh_token: 1 });
  });

  it('one failing connection does not stop the others, and is recorded with its code', async () => {
    stack.keycloak.faults.set('token', { status: 503 });
    const summary = await refresher().run();
    expect(summary.results.map((result) => [result.connection, result.ok])).toEqual([
      ['astrato', true],
      ['oms', false],
    ]);
    expect(summary.failed).toBe(1);
    expect(summary.unusable).toEqual(['oms']);
    await expect(refresher().status.read('oms', noDeadline)).resolves.toMatchObject({
      ok: false,
      action: 'failed',
      error: 'upstream_unavailable',
    });
    await expect(refresher().status.read('astrato', noDeadline)).resolves.toMatchObject({
      ok: true,
      action: 'renewed',
    });
  });

  it('a failed renewal keeps the still-usable token usable, and says so', async () => {
    await refresher().run();
    clock.advance(200_000); // OMS due but usable
    stack.keycloak.faults.set('token', { status: 503 });
    const summary = await refresher().run();
    const oms = summary.results.find((result) => result.connection === 'oms');
    expect(oms).toMatchObject({ action: 'failed', ok: false, usable: true });
    expect(summary.unusable).toEqual([]);
  });

  it('a token the probe refuses (401) is dropped and renewed once', async () => {
    await refresher().run();
    stack.keycloak.revokeAllTokens();
    const summary = await refresher().run();
    expect(summary.results.find((result) => result.connection === 'oms')).toMatchObject({
      ok: true,
      probeStatus: 200,
    });
    expect(stack.keycloak.grantCounts().client_credentials).toBe(2);
  });

  it('a renewal that fails after the probe refused the token is reported as that failure, and logged', async () => {
    await refresher().run();
    stack.keycloak.revokeAllTokens();
    stack.keycloak.faults.set('token', { status: 503 });
    const mark = output.lines().length;
    const summary = await refresher().run();
    expect(summary.results.find((result) => result.connection === 'oms')).toEqual({
      connection: 'oms',
      action: 'failed',
      ok: false,
      usable: false,
      error: 'upstream_unavailable',
    });
    await expect(refresher().status.read('oms', noDeadline)).resolves.toMatchObject({
      ok: false,
      action: 'failed',
      error: 'upstream_unavailable',
    });
    const lines = output.lines().slice(mark);
    expect(lines.filter((line) => line.connection === 'oms').map((line) => line.message)).toEqual(
      expect.arrayContaining(['upstream refused the token; renewing it once', 'token refresh failed']),
    );
    expect(lines.find((line) => line.message === 'token refresh failed')).toMatchObject({
      code: 'upstream_unavailable',
      error: { name: 'UpstreamUnavailableError', message: expect.stringContaining('answered 503') },
    });
    expect(lines.some((line) => line.message === 'token probe failed')).toBe(false);
  });

  it('a token the probe refuses again after its renewal is reported as probe_failed, the new token kept', async () => {
    await refresher().run();
    // The API refuses every token: the renewed one too.
    stack.keycloak.faults.set('oms', { status: 401 });
    const summary = await refresher().run();
    expect(summary.results.find((result) => result.connection === 'oms')).toMatchObject({
      action: 'renewed',
      ok: false,
      usable: true,
      error: 'probe_failed',
      probeStatus: 401,
    });
    expect(stack.keycloak.grantCounts().client_credentials).toBe(2);
  });

  it('a probe that keeps failing is reported as probe_failed', async () => {
    stack.keycloak.faults.set('oms', { status: 500 });
    const summary = await refresher().run();
    expect(summary.results.find((result) => result.connection === 'oms')).toMatchObject({
      ok: false,
      error: 'probe_failed',
      probeStatus: 500,
    });
  });
});

describe('refresh-tokens handler (the real module)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await TestStack.start();
    Object.assign(process.env, stack.environment(SERVICE_NAMES.refreshTokens));
  });
  afterAll(async () => stack.stop());

  const scheduledEvent: ScheduledEvent = {
    version: '0',
    id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: '2026-11-22T10:15:00Z',
    region: 'eu-west-1',
    resources: ['arn:aws:events:eu-west-1:123456789012:rule/ticket-broker-refresh'],
    detail: {},
  };

  type Handler = (event: ScheduledEvent, context: Context) => Promise<{ renewed: number; fresh: number }>;
  const load = async (): Promise<Handler> => {
    let handler: Handler | undefined;
    await jest.isolateModulesAsync(async () => {
      handler = (await import('../../functions/refresh-tokens/handler')).handler as unknown as Handler;
    });
    if (!handler) throw new Error('handler not loaded');
    return handler;
  };

  it('renews what is missing, then finds everything fresh', async () => {
    const handler = await load();
    await expect(handler(scheduledEvent, lambdaContext('refresh-tokens'))).resolves.toMatchObject({
      renewed: 2,
    });
    await expect(handler(scheduledEvent, lambdaContext('refresh-tokens'))).resolves.toMatchObject({
      fresh: 2,
    });
  });

  it('fails the invocation when a connection is left with no usable token', async () => {
    const { DeleteCommand } = await import('@aws-sdk/lib-dynamodb');
    await stack.documentClient().send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'token#oms' } }));
    stack.keycloak.faults.set('token', { status: 503, retryAfter: '120' });
    try {
      const handler = await load();
      await expect(handler(scheduledEvent, lambdaContext('refresh-tokens'))).rejects.toThrow(
        'no usable token left for: oms',
      );
    } finally {
      stack.keycloak.faults.clear();
    }
    const lines = output
      .lines()
      .filter((line) => line.service === 'refresh-tokens' && line.level === 'ERROR');
    expect(lines.some((line) => line.code === 'upstream_unavailable' && line.connection === 'oms')).toBe(
      true,
    );
  });

  it('the status route shows the last refresh', async () => {
    const { loadApiHandler, addCaller, invoke, bearer } = await import('../support/api-harness');
    const api = await loadApiHandler(stack);
    const { key } = await addCaller(stack, { name: 'ops', connections: ['oms'], tokens: true });
    const response = await invoke(api, {
      method: 'GET',
      path: '/v1/connections/oms/status',
      headers: bearer(key),
    });
    expect(response.body.lastRefresh).toEqual({
      at: expect.any(String),
      ok: false,
      state: 'failed',
      error: 'upstream_unavailable',
    });
    // The run this file made, not an older one: at or after the file began.
    expect(Date.parse(String((response.body.lastRefresh as { at: string }).at))).toBeGreaterThanOrEqual(
      fileStart,
    );
  });

  it('a last run older than two schedule periods is overdue, however it ended', async () => {
    const { loadApiHandler, addCaller, invoke, bearer } = await import('../support/api-harness');
    const api = await loadApiHandler(stack);
    const { key } = await addCaller(stack, { name: 'ops2', connections: ['oms'], tokens: true });
    const status = new DynamoStatusStore({ client: stack.documentClient(), tableName: TABLE_NAME });
    const read = async () =>
      (await invoke(api, { method: 'GET', path: '/v1/connections/oms/status', headers: bearer(key) })).body
        .lastRefresh;
    const ago = (ms: number) => new Date(systemClock.now() - ms).toISOString();
    // A success within two periods (2 min) is ok; the same success from before is overdue.
    await status.write({ connection: 'oms', at: ago(30_000), ok: true, action: 'renewed' }, noDeadline);
    expect(await read()).toMatchObject({ ok: true, state: 'ok' });
    await status.write({ connection: 'oms', at: ago(121_000), ok: true, action: 'renewed' }, noDeadline);
    expect(await read()).toMatchObject({ ok: true, state: 'overdue' });
    await status.write(
      { connection: 'oms', at: ago(600_000), ok: false, action: 'failed', error: 'upstream_unavailable' },
      noDeadline,
    );
    expect(await read()).toMatchObject({ ok: false, state: 'overdue', error: 'upstream_unavailable' });
  });
});
