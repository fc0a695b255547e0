import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { lambdaContext, scheduledEvent } from '../../local/lambda-context';
import { keyOf, tableKeys } from '../../shared/adapters/table';
import { type Clock, systemClock } from '../../shared/clock';
import { type OwnedDeadline, startDeadline } from '../../shared/deadline';
import { problemCodeOf } from '../../shared/http/problem';
import { createLogger } from '../../shared/logging/logger';
import { noTelemetry } from '../../shared/logging/ports';
import { createRefresherRuntime, refresherFunction } from '../../shared/runtime/refresher-function';
import { SECRET_CHECK_MINUTES } from '../../shared/runtime/schedule';
import { createRefresher, type RefreshSummary } from '../../shared/use-cases/refresh-tokens';
import { startBlackHole } from '../support/black-hole';
import { eventually } from '../support/eventually';
import { ManualClock, noDeadline } from '../support/fakes';
import { FLEET_TABLE, Fleet, fleetClient } from '../support/fleet';
import { OutputCapture } from '../support/log-capture';
import { metricsWrittenIn } from '../support/metric-names';

/**
 * The refresher at many connections (issue 21), over real sockets: bounded fan-out counted at the
 * stand-ins, hosts spread, a hanging connection, the metric series a healthy run writes, and the
 * secret reads per run. Nothing here is timed: concurrency is what the simulators saw open at once,
 * in the order it happened.
 */
const output = new OutputCapture();
const logger = createLogger({ serviceName: 'refresh-fan-out-test' });
beforeAll(() => output.start());
afterAll(() => output.stop());

const fleets: Fleet[] = [];
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.stop()));
});
const startFleet = async (...options: Parameters<typeof Fleet.start>) => {
  const fleet = await Fleet.start(...options);
  fleets.push(fleet);
  return fleet;
};

/** The refresher's runtime over the fleet's stand-ins, as its composition root builds it. */
const refresherRuntimeOf = (fleet: Fleet, clock: Clock = systemClock) =>
  createRefresherRuntime(
    { config: fleet.config, tableName: FLEET_TABLE, metricsNamespace: 'test', serviceName: 'refresh-tokens' },
    { clock, logger, dynamoClient: fleet.dynamoClient(), secretsManagerClient: fleet.secretsManagerClient() },
  );

/** The use-case over the fleet's real adapters, with the deadline the test gives it. */
function refresherOver(fleet: Fleet, overrides: Partial<Parameters<typeof createRefresher>[0]> = {}) {
  const runtime = refresherRuntimeOf(fleet);
  const refresher = createRefresher({
    connections: fleet.config.connections,
    tokens: runtime.tokens,
    status: runtime.stores.status,
    probes: runtime.probes,
    publicCodeOf: problemCodeOf,
    policy: runtime.policy,
    clock: systemClock,
    log: logger,
    telemetry: noTelemetry,
    concurrency: fleet.config.refresh.concurrency,
    ...overrides,
  });
  return { refresher, status: runtime.stores.status };
}

/** What was open at the Keycloak hosts, replayed in the order it happened. */
function inFlightRecorder() {
  const events: { host: string; change: 1 | -1 }[] = [];
  return {
    onInFlight: (host: string, endpoint: string, change: 1 | -1) => {
      if (endpoint === 'token') events.push({ host, change });
    },
    /**
     * The most requests open at once over every host, and per host: the most open while every
     * other host still had requests to come or open (while the refresher had work for it too).
     */
    replay(requestsPerHost: Readonly<Record<string, number>>) {
      const open: Record<string, number> = {};
      const arrived: Record<string, number> = {};
      let total = 0;
      let peak = 0;
      const peakWhileOthersBusy: Record<string, number> = {};
      for (const { host, change } of events) {
        open[host] = (open[host] ?? 0) + change;
        total += change;
        if (change === 1) arrived[host] = (arrived[host] ?? 0) + 1;
        peak = Math.max(peak, total);
        const othersBusy = Object.keys(requestsPerHost)
          .filter((other) => other !== host)
          .every((other) => (open[other] ?? 0) > 0 || (arrived[other] ?? 0) < (requestsPerHost[other] ?? 0));
        if (othersBusy) peakWhileOthersBusy[host] = Math.max(peakWhileOthersBusy[host] ?? 0, open[host] ?? 0);
      }
      return { peak, peakWhileOthersBusy, arrived };
    },
  };
}

const runWithin = (refresher: { run(deadline: OwnedDeadline): Promise<RefreshSummary> }, ms = 20_000) => {
  const deadline = startDeadline(Date.now() + ms, systemClock);
  return refresher.run(deadline).finally(() => deadline.dispose());
};

describe('bounded fan-out', () => {
  it('never more connections at once than refresh.concurrency, and hosts spread: 60 connections, 2 hosts', async () => {
    const recorder = inFlightRecorder();
    const fleet = await startFleet({
      keycloakHosts: [30, 30],
      refresh: { concurrency: 8 },
      onInFlight: recorder.onInFlight,
    });
    for (const sim of fleet.keycloaks) sim.faults.set('token', { latencyMs: 20 });
    const { refresher } = refresherOver(fleet);
    const summary = await runWithin(refresher);
    expect(summary).toMatchObject({ renewed: 60, failed: 0, notReached: [], concurrency: 8 });

    const hosts = fleet.keycloaks.map((sim) => new URL(sim.url).host);
    const { peak, peakWhileOthersBusy, arrived } = recorder.replay(
      Object.fromEntries(hosts.map((host) => [host, 30])),
    );
    expect(arrived).toEqual(Object.fromEntries(hosts.map((host) => [host, 30])));
    // The setting is reached (the run uses its slots) and never passed.
    expect(peak).toBe(8);
    // Every connection of the first host is listed first: without spreading, its 30 would take all
    // 8 slots. While the other host had work, neither held more than its half.
    for (const host of hosts) expect(peakWhileOthersBusy[host]).toBe(4);
  });

  it('a deployment’s 200 connections on 4 hosts: all renewed in one run at 8 at a time, then all fresh with no secret read', async () => {
    const recorder = inFlightRecorder();
    const fleet = await startFleet({
      keycloakHosts: [50, 50, 50, 50],
      refresh: { concurrency: 8 },
      onInFlight: recorder.onInFlight,
    });
    // The usual order of things: a token endpoint takes a while, so requests overlap.
    for (const sim of fleet.keycloaks) sim.faults.set('token', { latencyMs: 20 });
    const handler = refresherFunction(refresherRuntimeOf(fleet));
    const run = async () => {
      const reads = fleet.secretReads();
      const summary = await handler(scheduledEvent(), lambdaContext('refresh-tokens', 50_000));
      return { summary, reads: fleet.secretReads() - reads };
    };
    const cold = await run();
    expect(cold.summary).toMatchObject({ renewed: 200, fresh: 0, failed: 0, notReached: [] });
    expect(cold.reads).toBe(200);
    expect(recorder.replay({}).peak).toBe(8);
    const warm = await run();
    expect(warm.summary).toMatchObject({ renewed: 0, fresh: 200, failed: 0, notReached: [] });
    expect(warm.reads).toBe(0);
  }, 60_000);

  it('the setting is the bound whatever it is: 1 and 3', async () => {
    for (const concurrency of [1, 3]) {
      const recorder = inFlightRecorder();
      const fleet = await startFleet({
        keycloakHosts: [12],
        refresh: { concurrency },
        onInFlight: recorder.onInFlight,
      });
      fleet.keycloaks[0]?.faults.set('token', { latencyMs: 10 });
      const summary = await runWithin(refresherOver(fleet).refresher);
      expect(summary.renewed).toBe(12);
      expect(recorder.replay({}).peak).toBe(concurrency);
    }
  });

  it("a connection that hangs does not delay the others' results: all recorded while it is still pending", async () => {
    const hole = await startBlackHole();
    try {
      const fleet = await startFleet({ keycloakHosts: [1, 12], refresh: { concurrency: 2 } });
      // The first host's one connection talks to a token endpoint that never answers.
      const [hanging] = fleet.ids();
      (fleet.config.connections as Record<string, unknown>)[hanging as string] = {
        ...fleet.connection(hanging as string),
        tokenUrl: `${hole.url}/realms/x/protocol/openid-connect/token`,
      };
      const others = fleet.ids().filter((id) => id !== hanging);
      const { refresher, status } = refresherOver(fleet);
      const stop = new AbortController();
      const deadline = startDeadline(Date.now() + 25_000, systemClock, stop.signal);
      let settled = false;
      const run = refresher.run(deadline).finally(() => {
        settled = true;
        deadline.dispose();
      });
      await hole.waitForRequests(1);
      // Every other connection is renewed and its status recorded...
      await eventually(async () => {
        const recorded = await Promise.all(others.map((id) => status.read(id, noDeadline)));
        if (!recorded.every((item) => item?.ok === true && item.action === 'renewed'))
          throw new Error('not all recorded yet');
      });
      // ... while the hanging one is still waiting for its answer.
      expect(settled).toBe(false);
      await expect(status.read(hanging as string, noDeadline)).resolves.toBeUndefined();

      // The endpoint goes away: the hanging request fails, and the connection is recorded.
      await hole.stop();
      const summary = await run;
      expect(summary.renewed).toBe(12);
      expect(summary.results.find((result) => result.connection === hanging)).toMatchObject({
        ok: false,
        action: 'failed',
      });
      await expect(status.read(hanging as string, noDeadline)).resolves.toMatchObject({ ok: false });
    } finally {
      await hole.stop();
    }
  });

  it('one slot and a hanging connection: it holds the slot until its own deadline, then the others all run', async () => {
    const hole = await startBlackHole();
    try {
      // With one slot, no other token request opens while the hanging one holds its connection.
      const heldWhenOthersOpened: number[] = [];
      const recorder = inFlightRecorder();
      const fleet = await startFleet({
        keycloakHosts: [1, 6],
        refresh: { concurrency: 1 },
        onInFlight: (host, endpoint, change) => {
          if (endpoint === 'token' && change === 1) heldWhenOthersOpened.push(hole.openConnections());
          recorder.onInFlight(host, endpoint, change);
        },
      });
      const [hanging] = fleet.ids();
      (fleet.config.connections as Record<string, unknown>)[hanging as string] = {
        ...fleet.connection(hanging as string),
        tokenUrl: `${hole.url}/realms/x/protocol/openid-connect/token`,
      };
      const { refresher } = refresherOver(fleet, { connectionBudgetMs: () => 300 });
      const summary = await runWithin(refresher);
      expect(hole.requests()).toBeGreaterThanOrEqual(1);
      expect(heldWhenOthersOpened).toEqual([0, 0, 0, 0, 0, 0]);
      expect(recorder.replay({}).peak).toBe(1);
      expect(summary.notReached).toEqual([]);
      expect(summary.renewed).toBe(6);
      expect(summary.results.find((result) => result.connection === hanging)).toMatchObject({
        ok: false,
        error: 'upstream_unavailable',
        cause: 'upstream_timeout',
      });
    } finally {
      await hole.stop();
    }
  });

  it('a run that cannot reach every connection before its deadline stops starting them, and says so', async () => {
    const hole = await startBlackHole();
    try {
      const fleet = await startFleet({ keycloakHosts: [1, 5], refresh: { concurrency: 1 } });
      const [hanging] = fleet.ids();
      (fleet.config.connections as Record<string, unknown>)[hanging as string] = {
        ...fleet.connection(hanging as string),
        tokenUrl: `${hole.url}/realms/x/protocol/openid-connect/token`,
      };
      // The hanging connection is started when its host's turn comes; its own deadline (a minute
      // here, whatever the retry policy) is past the run's, so it holds the one slot until the run's
      // refresh work must end.
      const { refresher, status } = refresherOver(fleet, { connectionBudgetMs: () => 60_000 });
      const mark = output.lines().length;
      const summary = await runWithin(refresher, 3_000);
      expect(summary.notReached.length).toBeGreaterThan(0);
      expect(summary.failed).toBe(
        summary.results.filter((result) => !result.ok).length + summary.notReached.length,
      );
      expect(summary.results.length + summary.notReached.length).toBe(6);
      // Nothing is written for a connection not reached: /status calls it overdue if it goes on.
      for (const id of summary.notReached) await expect(status.read(id, noDeadline)).resolves.toBeUndefined();
      const said = output
        .lines()
        .slice(mark)
        .find((line) => line.message === 'refresh run ran out of time: connections not reached');
      expect(said).toMatchObject({ notReached: summary.notReached.length, connections: 6, concurrency: 1 });
    } finally {
      await hole.stop();
    }
  });
});

describe('metric series', () => {
  const savedEnvironment = { ...process.env };
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnvironment)) delete process.env[name];
    Object.assign(process.env, savedEnvironment);
  });

  /**
   * The real handler module, in a container of its own with this fleet's configuration and
   * environment (kept until the test ends: the SDK reads its endpoints when it first sends).
   */
  async function handlerFor(fleet: Fleet) {
    Object.assign(process.env, fleet.environment());
    // Metrics on, as deployed.
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    delete process.env.POWERTOOLS_METRICS_NAMESPACE;
    let handler: ((event: unknown, context: Context) => Promise<RefreshSummary>) | undefined;
    await jest.isolateModulesAsync(async () => {
      handler = (await import('../../functions/refresh-tokens/handler')).handler as unknown as typeof handler;
    });
    if (!handler) throw new Error('handler not loaded');
    return handler;
  }

  /** The series (name and dimensions) in the EMF lines written since `mark`. */
  const seriesSince = (mark: number) =>
    new Set(
      metricsWrittenIn(output.lines().slice(mark)).map(
        (series) =>
          `${series.metricName} ${JSON.stringify(Object.fromEntries(Object.entries(series.dimensions).sort()))}`,
      ),
    );

  /** Two healthy runs: every token acquired, then every token found fresh. */
  async function healthySeries(connectionsPerHost: number[]) {
    const fleet = await startFleet({ keycloakHosts: connectionsPerHost, probe: true });
    const handler = await handlerFor(fleet);
    const mark = output.lines().length;
    const first = await handler(scheduledEvent(), lambdaContext('refresh-tokens', 30_000));
    const second = await handler(scheduledEvent(), lambdaContext('refresh-tokens', 30_000));
    expect([first.renewed, second.fresh, first.failed + second.failed]).toEqual([
      fleet.ids().length,
      fleet.ids().length,
      0,
    ]);
    return seriesSince(mark);
  }

  it('a healthy run writes the same series at 2 connections and at 60 (counted from the EMF output)', async () => {
    const two = await healthySeries([1, 1]);
    const sixty = await healthySeries([30, 30]);
    expect([...sixty].sort()).toEqual([...two].sort());
    // And none of them is per connection; the aggregates the alarms and dashboard read are there.
    expect([...two].filter((series) => series.includes('"connection"'))).toEqual([]);
    for (const metric of ['RefreshSucceeded', 'RefreshFailedConnections', 'TokenAcquired'])
      expect([...two]).toContain(`${metric} {"service":"refresh-tokens"}`);
  });

  it('a failing connection adds series of its own, only while it fails', async () => {
    const fleet = await startFleet({ keycloakHosts: [2] });
    const handler = await handlerFor(fleet);
    const [failing] = fleet.ids();
    const sim = fleet.keycloaks[0];
    sim?.rotateClientSecret(fleetClient(failing as string).clientId, 'not what the secret holds');
    let mark = output.lines().length;
    await expect(handler(scheduledEvent(), lambdaContext('refresh-tokens', 30_000))).rejects.toThrow(
      `no usable token left for: ${failing}`,
    );
    const whileFailing = [...seriesSince(mark)].filter((series) => series.includes('"connection"'));
    expect(whileFailing.sort()).toEqual([
      `RefreshFailed {"connection":"${failing}","service":"refresh-tokens"}`,
      `TokenAcquireFailed {"connection":"${failing}","service":"refresh-tokens"}`,
    ]);
    sim?.rotateClientSecret(
      fleetClient(failing as string).clientId,
      fleetClient(failing as string).clientSecret,
    );
    mark = output.lines().length;
    await handler(scheduledEvent(), lambdaContext('refresh-tokens', 30_000));
    expect([...seriesSince(mark)].filter((series) => series.includes('"connection"'))).toEqual([]);
  });
});

describe('secret reads', () => {
  it(`one per connection on a cold start, then none until its ${SECRET_CHECK_MINUTES}-minute rotation check; one more after invalid_client`, async () => {
    const clock = new ManualClock(Date.now());
    const fleet = await startFleet({ keycloakHosts: [3, 3], now: () => clock.now() });
    const handler = refresherFunction(refresherRuntimeOf(fleet, clock));
    const started = clock.now();
    /** One scheduled run `atSeconds` after the first: the secret reads and token requests it made. */
    const run = async (atSeconds: number) => {
      clock.advance(started + atSeconds * 1000 - clock.now());
      const reads = fleet.secretReads();
      const tokens = fleet.tokenRequests();
      const summary = await handler(scheduledEvent(), lambdaContext('refresh-tokens', 30_000));
      return {
        reads: fleet.secretReads() - reads,
        tokenRequests: fleet.tokenRequests() - tokens,
        renewed: summary.renewed,
        fresh: summary.fresh,
      };
    };
    const storedVersion = async (connection: string) =>
      (
        await fleet.documentClient().send(
          new GetCommand({
            TableName: FLEET_TABLE,
            Key: keyOf(tableKeys.token(connection)),
            ConsistentRead: true,
          }),
        )
      ).Item?.secretVersion;
    const [rotated, refused] = [fleet.ids()[0] as string, fleet.ids()[3] as string];

    // Keycloak's tokens live 5 minutes, due from 3 minutes on. A cold start reads every secret once.
    expect(await run(0)).toEqual({ reads: 6, tokenRequests: 6, renewed: 6, fresh: 0 });
    // Nothing due: no read (it used to be one per connection per run).
    expect(await run(60)).toEqual({ reads: 0, tokenRequests: 0, renewed: 0, fresh: 6 });
    // Renewals use the secret the process holds.
    expect(await run(200)).toEqual({ reads: 0, tokenRequests: 6, renewed: 6, fresh: 0 });

    // A rotation where the partner accepts both secrets for a while: a new version is put.
    const version = fleet.secretsManager.putSecret(`fleet/${rotated}`, JSON.stringify(fleetClient(rotated)));
    expect(await run(260)).toEqual({ reads: 0, tokenRequests: 0, renewed: 0, fresh: 6 });
    // Renewals every 200 s (tokens due after 180 s) up to the check: still no read, so the tokens
    // are minted with the version the process holds.
    const checkAt = SECRET_CHECK_MINUTES * 60 + 1;
    const renewals: number[] = [];
    for (let at = checkAt - 101; at > 300; at -= 200) renewals.unshift(at);
    for (const at of renewals)
      expect(await run(at)).toEqual({ reads: 0, tokenRequests: 6, renewed: 6, fresh: 0 });
    expect(await storedVersion(rotated)).not.toBe(version);

    // Past the check period since the reads: the rotation check reads every secret once, and the
    // token minted with the older version is renewed though still fresh; the others are left alone.
    expect(await run(checkAt)).toEqual({ reads: 6, tokenRequests: 1, renewed: 1, fresh: 5 });
    expect(await storedVersion(rotated)).toBe(version);

    // The partner refuses the secret the process holds (rotated and revoked at once): the renewal
    // meets invalid_client, re-reads that one secret, and succeeds with the new version.
    const renewedSecret = { ...fleetClient(refused), clientSecret: 'rotated-and-revoked' };
    const refusedVersion = fleet.secretsManager.putSecret(`fleet/${refused}`, JSON.stringify(renewedSecret));
    fleet.keycloaks[1]?.rotateClientSecret(renewedSecret.clientId, renewedSecret.clientSecret);
    // Five renewals (the rotated connection's token is still fresh), one refused and retried.
    expect(await run(checkAt + 100)).toEqual({ reads: 1, tokenRequests: 6, renewed: 5, fresh: 1 });
    expect(await storedVersion(refused)).toBe(refusedVersion);
  });
});
