import type { Connections } from '../callers/authorization';
import type { Clock } from '../clock';
import type { Connection } from '../config/schema';
import { type Deadline, startDeadline } from '../deadline';
import { logDependencyFailure } from '../dependency-guard';
import { BrokerError, describeError } from '../errors';
import type { Log, Telemetry } from '../logging/ports';
import { runSpread } from '../spread-pool';
import type { RefreshStatus, StatusStore } from '../status/status-store';
import { isUsable, type RefreshPolicy } from '../tokens/refresh-policy';
import type { RefreshingTokenSource, RefreshOutcome } from '../tokens/refreshing-token-source';
import type { CachedToken } from '../tokens/token';
import type { TokenCall } from '../tokens/token-source';
import { type ProbeAnswer, refusesToken, type TokenProbe } from '../upstream/probe';

/**
 * Kept back from a run's deadline for recording its outcome: the refresh work ends this much
 * earlier, so a dependency that hangs still leaves time to write each connection's status.
 */
const STATUS_WRITE_RESERVE_MS = 1500;

/**
 * The least time one connection's refresh may take (secret, table, token endpoint with retries,
 * probe), like a request's budget; a connection whose `timeoutMs` is longer gets two attempts'
 * worth. A connection that hangs holds its slot no longer than this, so it delays no other beyond
 * its own deadline.
 */
export const CONNECTION_BUDGET_MS = 10_000;

/** The deadline budget of one connection's refresh: {@link CONNECTION_BUDGET_MS}, or two attempts. */
export function connectionBudgetMs(connection: Connection): number {
  return Math.max(CONNECTION_BUDGET_MS, 2 * connection.timeoutMs);
}

/**
 * The host a connection's tokens come from (`host:port`): connections sharing one are spread
 * over the run, so that fifty clients of one Keycloak are never fifty grants at once.
 */
export function tokenEndpointHost(connection: Connection): string {
  return new URL(connection.kind === 'astrato-oem' ? connection.baseUrl : connection.tokenUrl).host;
}

/** How many connection ids a log line or an error message names before it only counts the rest. */
const NAMED_IN_MESSAGE = 20;

/** What `/status` shows for a token the connection's API refused or did not answer for. */
const PROBE_FAILED = 'probe_failed';

export interface ConnectionRefreshResult {
  readonly connection: string;
  readonly action: RefreshOutcome['action'];
  readonly ok: boolean;
  /** The connection still has a token requests can use. */
  readonly usable: boolean;
  readonly error?: string;
  /** The finer code behind `error` (which dependency failed), when there is one. */
  readonly cause?: string;
  readonly probeStatus?: number;
}

export interface RefreshSummary {
  /** The connections this run refreshed, in configuration order. */
  readonly results: readonly ConnectionRefreshResult[];
  readonly renewed: number;
  readonly fresh: number;
  /** Connections that failed, plus those not reached. */
  readonly failed: number;
  /** Connections left with no usable token: the invocation fails so alarms and the DLQ see it. */
  readonly unusable: readonly string[];
  /**
   * Connections the run could not start before its deadline (more connections due than its time
   * and concurrency allow, or slots held by hanging dependencies): the invocation fails too. Their
   * status is not written, so `/status` calls them `overdue` if it goes on.
   */
  readonly notReached: readonly string[];
  /** How many connections were refreshed at once, at most. */
  readonly concurrency: number;
  readonly durationMs: number;
}

export interface RefresherDeps {
  readonly connections: Connections;
  readonly tokens: RefreshingTokenSource;
  readonly status: StatusStore;
  /** The probe of each connection that has a `probeUrl` (`tokenProbes`). */
  readonly probes: Readonly<Record<string, TokenProbe>>;
  /**
   * The public code a failure is recorded under, which `/status` shows callers: the API's one
   * error map (`problemCodeOf`, shared/http/problem.ts), handed in by the composition root.
   */
  readonly publicCodeOf: (error: unknown) => string;
  readonly policy: RefreshPolicy;
  readonly clock: Clock;
  readonly log: Log;
  readonly telemetry: Telemetry;
  /**
   * At most this many connections are refreshed at once (`refresh.concurrency`), shared fairly
   * between token endpoint hosts.
   */
  readonly concurrency: number;
  /** The deadline budget of one connection's refresh. @default connectionBudgetMs */
  readonly connectionBudgetMs?: (connection: Connection) => number;
}

/**
 * The scheduled refresher: every connection independently, at most `concurrency` at once, each
 * within a deadline of its own (docs/design.md "Token lifecycle", "Refresher runs").
 *
 * Metrics carry no connection dimension while a connection is healthy, so a healthy run writes the
 * same series at 2 connections and at 200: `RefreshSucceeded` (connections refreshed),
 * `RefreshFailedConnections` (failed or not reached, 0 included), `TokenAcquired`. A failing
 * connection adds `RefreshFailed` with its `connection` for as long as it fails, and a run that
 * could not reach every connection `RefreshConnectionsNotReached`. Per-connection detail is in the
 * logs: one `refresh outcome` line per connection renewed or failed.
 */
export function createRefresher(deps: RefresherDeps) {
  const budgetOf = deps.connectionBudgetMs ?? connectionBudgetMs;
  /** What a run records of one connection: what was done, and whether a token is left usable. */
  const result = (
    connection: string,
    action: RefreshOutcome['action'],
    token: CachedToken | undefined,
    failure: { error?: string; cause?: string; probeStatus?: number } = {},
  ): ConnectionRefreshResult => ({
    connection,
    action,
    ok: failure.error === undefined,
    usable: token !== undefined && isUsable(token, deps.clock.now(), deps.policy),
    ...failure,
  });

  /** A renewal that failed: its public code and, when finer, its own, with the error logged. */
  const renewalFailed = (connection: string, error: unknown, token: CachedToken | undefined) => {
    const code = deps.publicCodeOf(error);
    const own = error instanceof BrokerError && error.code !== code ? { cause: error.code } : {};
    deps.log.error('token refresh failed', { connection, code, ...own, error: describeError(error) });
    return result(connection, 'failed', token, { error: code, ...own });
  };

  /**
   * Renews the connection's token if it is due, then proves it with the connection's probe, if it
   * has one. A token the probe's API refuses (401) is renewed once and probed again
   * (`TokenSource.withToken`); a renewal that fails then is recorded as the renewal's failure.
   */
  async function refreshOne(connection: string, deadline: Deadline): Promise<ConnectionRefreshResult> {
    const outcome = await deps.tokens.refreshDue(connection, { deadline });
    if (outcome.action === 'failed') return renewalFailed(connection, outcome.error, outcome.token);
    const probe = deps.probes[connection];
    if (!probe) return result(connection, outcome.action, outcome.token);
    let probed: TokenCall<ProbeAnswer>;
    try {
      probed = await deps.tokens.withToken(
        connection,
        deadline,
        (token) => probe.check(connection, token.accessToken, deadline.at),
        { first: outcome, refused: refusesToken },
      );
    } catch (error) {
      // The probe never throws: this is the renewal after a refused token.
      return renewalFailed(connection, error, undefined);
    }
    const { value: answer, token, renewed } = probed;
    const action = renewed ? 'renewed' : outcome.action;
    const probeStatus = answer.status !== undefined ? { probeStatus: answer.status } : {};
    if (answer.ok) return result(connection, action, token, probeStatus);
    deps.log.error('token probe failed', {
      connection,
      code: PROBE_FAILED,
      ...probeStatus,
      ...answer.diagnosis,
    });
    return result(connection, action, token, { error: PROBE_FAILED, ...probeStatus });
  }

  return {
    /**
     * Refreshes every connection within `deadline`, then records each outcome. The refresh work
     * gets a deadline of its own, a little earlier, so that a hanging dependency (Secrets Manager,
     * a token endpoint) still leaves time to record the failed run with its cause.
     */
    async run(deadline: Deadline): Promise<RefreshSummary> {
      const ids = Object.keys(deps.connections);
      const left = deadline.at - deps.clock.now();
      // What must still happen after a connection's work (a lease given back, a token written)
      // may use the time up to the run's own deadline, never past it.
      const work = startDeadline(
        deadline.at - Math.min(STATUS_WRITE_RESERVE_MS, Math.max(0, left) / 2),
        deps.clock,
        deadline.signal,
        deadline.signal,
      );
      try {
        return await runWithin(ids, work, deadline);
      } finally {
        work.dispose();
      }
    },
  };

  /** One connection within its own deadline, then its status: never throws. */
  async function refreshAndRecord(connection: string, work: Deadline, run: Deadline) {
    const config = deps.connections[connection] as Connection;
    const started = deps.clock.now();
    const own = startDeadline(
      Math.min(work.at, started + budgetOf(config)),
      deps.clock,
      work.signal,
      work.invocation,
    );
    let result: ConnectionRefreshResult;
    try {
      result = await refreshOne(connection, own);
    } catch (error) {
      deps.log.error('refresh of a connection crashed', { connection, error: describeError(error) });
      result = { connection, action: 'failed', ok: false, usable: false, error: 'internal' };
    } finally {
      own.dispose();
    }
    const status: RefreshStatus = {
      connection,
      at: new Date(deps.clock.now()).toISOString(),
      ok: result.ok,
      action: result.action,
      ...(result.error !== undefined ? { error: result.error } : {}),
      ...(result.cause !== undefined ? { cause: result.cause } : {}),
      ...(result.probeStatus !== undefined ? { probeStatus: result.probeStatus } : {}),
    };
    await deps.status.write(status, run.signal).catch((error: unknown) => {
      logDependencyFailure(deps.log, 'could not record the refresh status', { connection }, error);
    });
    // Renewals and failures per connection are read from these lines (README "Operations"); a
    // connection left fresh is only counted, in the run's line and in RefreshSucceeded.
    if (result.action !== 'fresh' || !result.ok) {
      const line = { ...result, durationMs: deps.clock.now() - started };
      if (result.ok) deps.log.info('refresh outcome', line);
      else deps.log.warn('refresh outcome', line);
    }
    // Only while it fails does a connection have a series of its own.
    if (!result.ok) deps.telemetry.count('RefreshFailed', 1, { connection });
    return result;
  }

  async function runWithin(ids: string[], work: Deadline, deadline: Deadline): Promise<RefreshSummary> {
    const started = deps.clock.now();
    const hosts = new Map(ids.map((id) => [id, tokenEndpointHost(deps.connections[id] as Connection)]));
    const { results: done, notStarted } = await runSpread(
      ids,
      (connection) => refreshAndRecord(connection, work, deadline),
      { concurrency: deps.concurrency, groupOf: (id) => hosts.get(id) ?? id, signal: work.signal },
    );
    const results = done.map(({ value }) => value);
    const notReached = [...notStarted];
    const failed = results.filter((result) => !result.ok).length + notReached.length;
    // One series each for the whole run, every run (0 included): the renewal alarm watches
    // RefreshFailedConnections, since an alarm cannot add up per-connection series.
    deps.telemetry.count('RefreshSucceeded', results.filter((result) => result.ok).length);
    deps.telemetry.count('RefreshFailedConnections', failed);
    if (notReached.length > 0) {
      deps.telemetry.count('RefreshConnectionsNotReached', notReached.length);
      deps.log.error('refresh run ran out of time: connections not reached', {
        notReached: notReached.length,
        connections: ids.length,
        concurrency: deps.concurrency,
        first: notReached.slice(0, NAMED_IN_MESSAGE),
        check:
          'a dependency that hangs (the refresh outcome lines say which), or more connections than the run can reach within its time at refresh.concurrency',
      });
    }
    return {
      results,
      renewed: results.filter((result) => result.action === 'renewed').length,
      fresh: results.filter((result) => result.action === 'fresh').length,
      failed,
      unusable: results.filter((result) => !result.usable).map((result) => result.connection),
      notReached,
      concurrency: deps.concurrency,
      durationMs: deps.clock.now() - started,
    };
  }
}

export type Refresher = ReturnType<typeof createRefresher>;

const named = (ids: readonly string[]) =>
  ids.length > NAMED_IN_MESSAGE
    ? `${ids.slice(0, NAMED_IN_MESSAGE).join(', ')} and ${ids.length - NAMED_IN_MESSAGE} more`
    : ids.join(', ');

/**
 * Thrown by the refresher's invocation when a connection is left without a usable token, or when
 * the run could not reach every connection before its deadline: either way the run did not do its
 * job, and the refresher alarm and the dead-letter queue must see it.
 */
export class RefreshIncompleteError extends Error {
  override readonly name = 'RefreshIncompleteError';
  constructor(
    readonly connections: readonly string[],
    readonly notReached: readonly string[] = [],
  ) {
    super(
      [
        ...(connections.length > 0 ? [`no usable token left for: ${named(connections)}`] : []),
        ...(notReached.length > 0 ? [`not reached before the run's deadline: ${named(notReached)}`] : []),
      ].join('; '),
    );
  }
}
