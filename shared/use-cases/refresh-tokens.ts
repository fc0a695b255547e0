import type { Connections } from '../callers/authorization';
import type { Clock } from '../clock';
import type { Connection } from '../config/schema';
import { type Deadline, startDeadline } from '../deadline';
import { BrokerError, describeError, UpstreamUnavailableError } from '../errors';
import { problemCodeOf } from '../http/problem';
import type { Log, Telemetry } from '../logging/ports';
import { runSpread } from '../spread-pool';
import type { RefreshStatus, StatusStore } from '../status/status-store';
import { isUsable, type RefreshPolicy } from '../tokens/refresh-policy';
import type { CachedToken } from '../tokens/token';
import type { RefreshOutcome, TokenSource } from '../tokens/token-source';
import { unexpectedAnswer, upstreamFetch } from '../upstream/http';

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

const CHECK_PROBE_URL =
  'the connection probeUrl: a GET there with the fresh token must answer 2xx; a 404 or an HTML page usually means a wrong URL, a 401 or 403 that the API does not accept this client';

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
  readonly tokens: TokenSource;
  readonly status: StatusStore;
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
  readonly fetch?: typeof fetch;
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
  async function probe(
    connection: string,
    url: string,
    token: CachedToken,
    deadline: number,
  ): Promise<{ status: number; diagnosis?: Record<string, unknown> }> {
    const response = await upstreamFetch(
      url,
      { method: 'GET', headers: { authorization: `Bearer ${token.accessToken}` } },
      {
        what: `probe of ${connection}`,
        timeoutMs: 5000,
        deadline,
        clock: deps.clock,
        log: deps.log,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      },
    ).catch((error: unknown) => {
      // A 5xx or 429 is the probe's answer; an answer too large to read is a failure of its own.
      if (error instanceof UpstreamUnavailableError && error.upstreamStatus !== undefined) {
        return { status: error.upstreamStatus, headers: { get: () => null } };
      }
      throw error;
    });
    const ok = response.status >= 200 && response.status <= 299;
    return ok
      ? { status: response.status }
      : { status: response.status, diagnosis: unexpectedAnswer(response, url, CHECK_PROBE_URL) };
  }

  async function refreshOne(connection: string, deadline: Deadline): Promise<ConnectionRefreshResult> {
    const config = deps.connections[connection];
    let outcome = await deps.tokens.refreshDue(connection, { deadline });
    let probeStatus: number | undefined;
    let diagnosis: Record<string, unknown> | undefined;
    let error: string | undefined;
    let cause: string | undefined;
    if (outcome.action === 'failed') {
      error = problemCodeOf(outcome.error);
      const code = outcome.error instanceof BrokerError ? outcome.error.code : undefined;
      if (code !== undefined && code !== error) cause = code;
      deps.log.error('token refresh failed', {
        connection,
        code: error,
        ...(cause ? { cause } : {}),
        error: describeError(outcome.error),
      });
    } else if (config?.kind === 'oauth2-client-credentials' && config.probeUrl) {
      try {
        ({ status: probeStatus, diagnosis } = await probe(
          connection,
          config.probeUrl,
          outcome.token,
          deadline.at,
        ));
        if (probeStatus === 401) {
          // The upstream no longer accepts the token: drop it, renew once, probe again.
          await deps.tokens.invalidate(connection, outcome.token, deadline);
          outcome = await deps.tokens.refreshDue(connection, { deadline });
          if (outcome.action !== 'failed')
            ({ status: probeStatus, diagnosis } = await probe(
              connection,
              config.probeUrl,
              outcome.token,
              deadline.at,
            ));
        }
        if (probeStatus < 200 || probeStatus > 299) error = 'probe_failed';
      } catch (probeError) {
        error = 'probe_failed';
        deps.log.warn('probe failed', { connection, error: describeError(probeError) });
      }
      if (error) deps.log.error('token probe failed', { connection, code: error, probeStatus, ...diagnosis });
    }
    const token = 'token' in outcome ? outcome.token : undefined;
    const usable = token !== undefined && isUsable(token, deps.clock.now(), deps.policy);
    return {
      connection,
      action: outcome.action,
      ok: error === undefined,
      usable,
      ...(error !== undefined ? { error } : {}),
      ...(cause !== undefined ? { cause } : {}),
      ...(probeStatus !== undefined ? { probeStatus } : {}),
    };
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
      const work = startDeadline(
        deadline.at - Math.min(STATUS_WRITE_RESERVE_MS, Math.max(0, left) / 2),
        deps.clock,
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
    const own = startDeadline(Math.min(work.at, started + budgetOf(config)), deps.clock, work.signal);
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
      deps.log.warn('could not record the refresh status', { connection, error: describeError(error) });
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
