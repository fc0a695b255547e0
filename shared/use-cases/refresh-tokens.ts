import type { Connections } from '../callers/authorization';
import type { Clock } from '../clock';
import { BrokerError, describeError, UpstreamUnavailableError } from '../errors';
import { problemCodeOf } from '../http/problem';
import { type Deadline, startDeadline } from '../runtime/deadline';
import type { RefreshStatus, StatusStore } from '../status/status-store';
import type { Log, Telemetry } from '../tokens/ports';
import { isUsable, type RefreshPolicy } from '../tokens/refresh-policy';
import type { CachedToken } from '../tokens/token';
import type { RefreshOutcome, TokenSource } from '../tokens/token-source';
import { unexpectedAnswer, upstreamFetch } from '../upstream/http';

/**
 * Kept back from a run's deadline for recording its outcome: the refresh work ends this much
 * earlier, so a dependency that hangs still leaves time to write each connection's status.
 */
const STATUS_WRITE_RESERVE_MS = 1500;

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
  readonly results: readonly ConnectionRefreshResult[];
  readonly renewed: number;
  readonly fresh: number;
  readonly failed: number;
  /** Connections left with no usable token: the invocation fails so alarms and the DLQ see it. */
  readonly unusable: readonly string[];
}

export interface RefresherDeps {
  readonly connections: Connections;
  readonly tokens: TokenSource;
  readonly status: StatusStore;
  readonly policy: RefreshPolicy;
  readonly clock: Clock;
  readonly log: Log;
  readonly telemetry: Telemetry;
  readonly fetch?: typeof fetch;
}

/** The scheduled refresher: every connection, concurrently and independently. */
export function createRefresher(deps: RefresherDeps) {
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

  async function runWithin(ids: string[], work: Deadline, deadline: Deadline): Promise<RefreshSummary> {
    const results = await Promise.all(
      ids.map(async (connection): Promise<ConnectionRefreshResult> => {
        let result: ConnectionRefreshResult;
        try {
          result = await refreshOne(connection, work);
        } catch (error) {
          deps.log.error('refresh of a connection crashed', { connection, error: describeError(error) });
          result = { connection, action: 'failed', ok: false, usable: false, error: 'internal' };
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
        await deps.status.write(status, deadline.signal).catch((error: unknown) => {
          deps.log.warn('could not record the refresh status', { connection, error: describeError(error) });
        });
        deps.telemetry.count(result.ok ? 'RefreshSucceeded' : 'RefreshFailed', 1, { connection });
        return result;
      }),
    );
    const failed = results.filter((result) => !result.ok).length;
    // One series for the whole run, every run (0 included): what the renewal alarm watches, since
    // an alarm cannot add up the per-connection series above.
    deps.telemetry.count('RefreshFailedConnections', failed);
    return {
      results,
      renewed: results.filter((result) => result.action === 'renewed').length,
      fresh: results.filter((result) => result.action === 'fresh').length,
      failed,
      unusable: results.filter((result) => !result.usable).map((result) => result.connection),
    };
  }
}

export type Refresher = ReturnType<typeof createRefresher>;

/** Thrown by the refresher's invocation when a connection is left without a usable token. */
export class RefreshIncompleteError extends Error {
  override readonly name = 'RefreshIncompleteError';
  constructor(readonly connections: readonly string[]) {
    super(`no usable token left for: ${connections.join(', ')}`);
  }
}
