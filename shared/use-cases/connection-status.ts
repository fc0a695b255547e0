import { authorizeStatus, type Connections } from '../callers/authorization';
import type { Caller } from '../callers/caller';
import type { Clock } from '../clock';
import type { ConnectionKind } from '../config/schema';
import type { Deadline } from '../deadline';
import { isBrokerError, StoreUnavailableError } from '../errors';
import type { RefreshStatusReader } from '../status/status-store';
import type { TokenSource } from '../tokens/token-source';

/** What a caller is asked to wait (`Retry-After`) when the table cannot be read. */
const STATUS_RETRY_AFTER_MS = 5000;

/** A recorded run older than this many schedule periods means the refresher is not running. */
const OVERDUE_AFTER_PERIODS = 2;

/**
 * What `/status` makes of the last recorded run: `ok` or `failed` as recorded, or `overdue` when
 * it is older than two schedule periods (the refresher has stopped recording, whatever it last
 * said).
 */
export type RefreshState = 'ok' | 'failed' | 'overdue';

/** `GET /v1/connections/{id}/status`: state and times only, never a token value. */
export interface ConnectionStatus {
  readonly connection: string;
  readonly kind: ConnectionKind;
  readonly token: {
    readonly state: 'fresh' | 'due' | 'expired' | 'none';
    readonly expiresAt: string | null;
    readonly obtainedAt: string | null;
  };
  readonly lastRefresh: {
    readonly at: string;
    readonly ok: boolean;
    readonly state: RefreshState;
    readonly error?: string;
    readonly cause?: string;
  } | null;
}

export interface StatusReaderDeps {
  readonly connections: Connections;
  readonly tokens: TokenSource;
  readonly status: RefreshStatusReader;
  readonly clock: Clock;
  /** The refresher's schedule period (REFRESH_SCHEDULE_MINUTES, from the composition root). */
  readonly schedulePeriodMs: number;
}

export function createStatusReader(deps: StatusReaderDeps) {
  const overdueAfterMs = OVERDUE_AFTER_PERIODS * deps.schedulePeriodMs;
  return {
    async read(caller: Caller, id: string, deadline: Deadline): Promise<ConnectionStatus> {
      const { connection } = authorizeStatus(caller, deps.connections, id);
      let inspected: Awaited<ReturnType<TokenSource['inspect']>>;
      let last: Awaited<ReturnType<RefreshStatusReader['read']>>;
      try {
        [inspected, last] = await Promise.all([
          deps.tokens.inspect(id, deadline.signal),
          deps.status.read(id, deadline.signal),
        ]);
      } catch (error) {
        // The table is unreachable: the state cannot be known now, and a retry soon may work.
        if (isBrokerError(error)) throw error;
        throw new StoreUnavailableError('connection status cannot be read right now', {
          cause: error,
          retryable: false,
          retryAfterMs: STATUS_RETRY_AFTER_MS,
        });
      }
      const iso = (value: number | undefined) => (value === undefined ? null : new Date(value).toISOString());
      const overdue = last !== undefined && deps.clock.now() - Date.parse(last.at) > overdueAfterMs;
      return {
        connection: id,
        kind: connection.kind,
        token: {
          state: inspected.state,
          expiresAt: iso(inspected.token?.expiresAt),
          obtainedAt: iso(inspected.token?.obtainedAt),
        },
        lastRefresh: last
          ? {
              at: last.at,
              ok: last.ok,
              state: overdue ? 'overdue' : last.ok ? 'ok' : 'failed',
              ...(last.error !== undefined ? { error: last.error } : {}),
              ...(last.cause !== undefined ? { cause: last.cause } : {}),
            }
          : null,
      };
    },
  };
}

export type StatusReader = ReturnType<typeof createStatusReader>;
