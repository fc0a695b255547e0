import { authorizeStatus, type Connections } from '../callers/authorization';
import type { Caller } from '../callers/caller';
import type { ConnectionKind } from '../config/schema';
import { isBrokerError, StoreUnavailableError } from '../errors';
import type { StatusStore } from '../status/status-store';
import type { TokenSource } from '../tokens/token-source';

/** What a caller is asked to wait (`Retry-After`) when the table cannot be read. */
const STATUS_RETRY_AFTER_MS = 5000;

/** `GET /v1/connections/{id}/status`: state and times only, never a token value. */
export interface ConnectionStatus {
  readonly connection: string;
  readonly kind: ConnectionKind;
  readonly token: {
    readonly state: 'fresh' | 'due' | 'expired' | 'none';
    readonly expiresAt: string | null;
    readonly obtainedAt: string | null;
  };
  readonly lastRefresh: { readonly at: string; readonly ok: boolean; readonly error?: string } | null;
}

export function createStatusReader(deps: {
  connections: Connections;
  tokens: TokenSource;
  status: StatusStore;
}) {
  return {
    async read(caller: Caller, id: string): Promise<ConnectionStatus> {
      const { connection } = authorizeStatus(caller, deps.connections, id);
      let inspected: Awaited<ReturnType<TokenSource['inspect']>>;
      let last: Awaited<ReturnType<StatusStore['read']>>;
      try {
        [inspected, last] = await Promise.all([deps.tokens.inspect(id), deps.status.read(id)]);
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
      return {
        connection: id,
        kind: connection.kind,
        token: {
          state: inspected.state,
          expiresAt: iso(inspected.token?.expiresAt),
          obtainedAt: iso(inspected.token?.obtainedAt),
        },
        lastRefresh: last
          ? { at: last.at, ok: last.ok, ...(last.error !== undefined ? { error: last.error } : {}) }
          : null,
      };
    },
  };
}

export type StatusReader = ReturnType<typeof createStatusReader>;
