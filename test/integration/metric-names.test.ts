import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { startDynamo } from '../../local/dynamodb';
import { lambdaContext as localLambdaContext, scheduledEvent } from '../../local/lambda-context';
import { keyOf, tableKeys } from '../../shared/adapters/table';
import { systemClock } from '../../shared/clock';
import { parseBrokerConfig } from '../../shared/config/schema';
import { METRICS_NAMESPACE } from '../../shared/logging/telemetry';
import { SERVICE_NAMES } from '../../shared/runtime/environment';
import { synthesize } from '../infra/support';
import { type ApiHandler, addCaller, bearer, invoke, loadApiHandler } from '../support/api-harness';
import { startBlackHole } from '../support/black-hole';
import { apiEvent, lambdaContext } from '../support/events';
import { eventually } from '../support/eventually';
import { OutputCapture } from '../support/log-capture';
import { metricsReadBy, metricsWrittenIn, unmatchedReads } from '../support/metric-names';
import { TABLE_NAME, TestStack } from '../support/stack';

/**
 * No dashboard widget or alarm watches a metric that never exists. The names (and dimension sets)
 * the real handlers write are collected from their embedded-metric-format output while they go
 * through every outcome the dashboard and alarms show: tickets, vended tokens, each error code, each
 * token origin, failed and successful refresh runs. Every metric the synthesized dashboard and
 * alarms read in the project's namespace must be among them.
 */
const output = new OutputCapture();
let stack: TestStack;
let api: ApiHandler;
let refresh: (event: unknown, context: Context) => Promise<unknown>;
let ticketKey: string;
let tokenKey: string;

beforeAll(async () => {
  output.start();
  stack = await TestStack.start();
  // Metrics on, as deployed (the local stack turns them off).
  delete process.env.POWERTOOLS_METRICS_DISABLED;
  delete process.env.POWERTOOLS_METRICS_NAMESPACE;
  api = await loadApiHandler(stack);
  // Each function container with its own service name, as the construct sets it.
  refresh = (
    await withEnvironment(
      stack.environment(SERVICE_NAMES.refreshTokens),
      () => import('../../functions/refresh-tokens/handler'),
    )
  ).handler as unknown as typeof refresh;
  ({ key: ticketKey } = await addCaller(stack, {
    name: 'metrics',
    connections: ['astrato'],
    anyEmail: true,
  }));
  ({ key: tokenKey } = await addCaller(stack, {
    name: 'metrics tokens',
    connections: ['oms'],
    tokens: true,
  }));
}, 30_000);

afterAll(async () => {
  output.stop();
  await stack?.stop();
});

/** Loads a module with another environment, as another function container would start. */
async function withEnvironment<T>(environment: NodeJS.ProcessEnv, load: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  Object.assign(process.env, environment);
  try {
    let loaded: T | undefined;
    await jest.isolateModulesAsync(async () => {
      loaded = await load();
    });
    return loaded as T;
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

const ticket = (key = ticketKey, body: unknown = { email: 'metrics@example.com' }) =>
  invoke(api, { method: 'POST', path: '/v1/tickets', headers: bearer(key), body });
const vend = (connection = 'oms') =>
  invoke(api, { method: 'POST', path: `/v1/connections/${connection}/token`, headers: bearer(tokenKey) });

async function leaseHeld(connection: string): Promise<boolean> {
  const { Item } = await stack
    .documentClient()
    .send(new GetCommand({ TableName: TABLE_NAME, Key: keyOf(tableKeys.lease(connection)) }));
  return Item !== undefined;
}

it('the handlers write every metric the dashboard and the alarms read', async () => {
  // A token endpoint refusing the client: 500 misconfigured (before any oms token exists).
  stack.keycloak.faults.set('token', { status: 401 });
  expect((await vend()).body.code).toBe('misconfigured');
  stack.keycloak.faults.clear();

  // Waited: another process holds the lease and is acquiring; the request waits for its token.
  stack.keycloak.faults.set('token', { latencyMs: 600, count: 1 });
  const other = stack.tokenSource({ clock: systemClock });
  const acquiring = other.tokens.get('oms');
  for (let polls = 0; !(await leaseHeld('oms')); polls += 1) {
    if (polls > 200) throw new Error('the other process never took the lease');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const waited = await vend();
  await acquiring;
  expect(waited).toMatchObject({ status: 200, headers: { 'server-timing': 'token;desc="waited"' } });

  // Table, then memory; then an upstream 401 drops the token and the request acquires another.
  await stack.tokenSource({ clock: systemClock }).tokens.get('astrato');
  expect((await ticket()).headers['server-timing']).toBe('token;desc="l2"');
  expect((await ticket()).headers['server-timing']).toBe('token;desc="l1"');
  stack.astrato.faults.set('setup', { status: 401, count: 1 });
  expect((await ticket()).headers['server-timing']).toBe('token;desc="acquired"');

  // Every error code a caller can get.
  expect((await ticket(ticketKey, { email: 'not an email' })).body.code).toBe('invalid_request');
  expect((await invoke(api, { method: 'POST', path: '/v1/tickets', body: {} })).body.code).toBe(
    'unauthorized',
  );
  expect((await ticket(tokenKey)).body.code).toBe('forbidden');
  expect((await ticket(ticketKey, { connection: 'nope', email: 'x@example.com' })).body.code).toBe(
    'unknown_connection',
  );
  expect((await ticket(ticketKey, { email: 'x@example.com', name: 'x'.repeat(17_000) })).body.code).toBe(
    'payload_too_large',
  );
  stack.astrato.faults.set('setup', { status: 400, count: 1 });
  expect((await ticket()).body.code).toBe('upstream_rejected');
  stack.astrato.faults.set('setup', { status: 503, retryAfter: '30' });
  expect((await ticket()).body.code).toBe('upstream_unavailable');
  stack.astrato.faults.clear();
  // An event API Gateway never sends (no HTTP method): the handler's unexpected-failure path.
  const broken = apiEvent({ method: 'GET', path: '/v1/health' });
  const { http: _http, ...requestContext } = broken.requestContext;
  const internal = await api({ ...broken, requestContext: requestContext as never }, lambdaContext());
  expect(JSON.parse(String(internal.body)).code).toBe('internal');

  // Refresh runs: one that fails for both connections (no token left, Secrets Manager down),
  // then one that succeeds.
  for (const connection of ['astrato', 'oms'])
    await stack
      .documentClient()
      .send(new DeleteCommand({ TableName: TABLE_NAME, Key: keyOf(tableKeys.token(connection)) }));
  stack.secretsManager.setUnavailable(true);
  await expect(refresh(scheduledEvent(), localLambdaContext('refresh-tokens', 20_000))).rejects.toThrow(
    /no usable token/,
  );
  stack.secretsManager.setUnavailable(false);
  // Secrets Manager is backed off after failing: a later run finds it back (the next scheduled one).
  await expect(
    eventually(() => refresh(scheduledEvent(), localLambdaContext('refresh-tokens', 20_000))),
  ).resolves.toMatchObject({
    failed: 0,
  });

  // A run that cannot reach every connection before its deadline: one slot, held by a token
  // endpoint that never answers (another refresher container, with its own configuration).
  const hole = await startBlackHole();
  try {
    const { oms } = stack.config.connections;
    if (oms?.kind !== 'oauth2-client-credentials') throw new Error('unexpected test configuration');
    const config = parseBrokerConfig({
      connections: {
        hang: { ...oms, tokenUrl: `${hole.url}/realms/x/protocol/openid-connect/token` },
        oms,
      },
      refresh: { concurrency: 1 },
    });
    const crowded = await withEnvironment(
      stack.environmentWith(config, 'crowded', SERVICE_NAMES.refreshTokens),
      () => import('../../functions/refresh-tokens/handler'),
    );
    await expect(
      (crowded.handler as unknown as typeof refresh)(
        scheduledEvent(),
        localLambdaContext('refresh-tokens', 4_000),
      ),
    ).rejects.toThrow("not reached before the run's deadline: oms");
  } finally {
    await hole.stop();
  }

  // The table accepting connections and never answering while a known caller asks for a ticket:
  // the ticket is served from what the container holds, the table is backed off (TableUnavailable)
  // and the audit record goes to an ERROR line (AuditRecordsNotStored). Last: dynalite comes back
  // empty.
  const { port } = stack.dynamo;
  await stack.dynamo.stop();
  const tableHole = await startBlackHole(port);
  try {
    expect((await ticket()).status).toBe(201);
  } finally {
    await tableHole.stop();
    Object.assign(stack, { dynamo: await startDynamo({ port }) });
  }

  const written = metricsWrittenIn(output.lines());
  const reads = metricsReadBy(synthesize().stateless);
  const ours = reads.filter((read) => read.namespace === METRICS_NAMESPACE);
  // The dashboard and the alarms do read the project's metrics (a check of nothing proves nothing).
  expect(ours.length).toBeGreaterThan(15);
  expect(unmatchedReads(reads, written, METRICS_NAMESPACE)).toEqual([]);
}, 60_000);

it('reports a read the code never writes (the check can fail)', () => {
  const read = {
    where: 'widget "test"',
    namespace: METRICS_NAMESPACE,
    metricName: 'TicketsIssued',
    dimensionNames: ['service'],
    dimensions: { service: 'issue-ticket' },
  };
  const written = [
    { namespace: METRICS_NAMESPACE, metricName: 'TicketsIssued', dimensions: { service: 'issue-ticket' } },
  ];
  expect(unmatchedReads([read], written, METRICS_NAMESPACE)).toEqual([]);
  expect(unmatchedReads([{ ...read, metricName: 'TicketIssued' }], written, METRICS_NAMESPACE)).toHaveLength(
    1,
  );
  expect(
    unmatchedReads([{ ...read, dimensions: { service: 'refresh-tokens' } }], written, METRICS_NAMESPACE),
  ).toHaveLength(1);
  expect(
    unmatchedReads([{ ...read, dimensionNames: ['connection', 'service'] }], written, METRICS_NAMESPACE),
  ).toHaveLength(1);
});
