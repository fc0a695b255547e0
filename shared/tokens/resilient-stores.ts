import { logDependencyFailure } from '../dependency-guard';
import type { Log, Telemetry } from '../logging/ports';
import type { LeaseStore, TokenCache } from './ports';
import type { CachedToken } from './token';

/** The two stores the token engine can run without, and the metric that counts each one's failures. */
const DEGRADED_METRIC = { 'token cache': 'TokenCacheDegraded', 'lease store': 'LeaseStoreDegraded' } as const;

export type DegradableStore = keyof typeof DEGRADED_METRIC;

/** A token cache read: `available: false` when the cache could not be read at all. */
export type CacheRead =
  | { readonly available: true; readonly token: CachedToken | undefined }
  | { readonly available: false };

/** A lease attempt: taken, held by another process, or the lease store could not be reached. */
export type LeaseAttempt = 'acquired' | 'held' | 'unavailable';

export interface ResilientStoresDeps {
  readonly cache: TokenCache;
  readonly leases: LeaseStore;
  readonly log: Log;
  readonly telemetry: Telemetry;
}

/**
 * Degraded mode in one place (docs/design.md "Single flight"): the token cache and the lease store
 * (DynamoDB) may fail; a request that upstream could serve must not. Each failure is one warning
 * log line and one metric naming the store and the operation, and the caller gets a value saying
 * the store was unavailable instead of an exception.
 */
export class ResilientStores {
  constructor(private readonly deps: ResilientStoresDeps) {}

  async readToken(connection: string, signal: AbortSignal): Promise<CacheRead> {
    try {
      return { available: true, token: await this.deps.cache.read(connection, signal) };
    } catch (error) {
      this.degraded('token cache', 'read', connection, error);
      return { available: false };
    }
  }

  /** Stores the token unless a newer one is already there; a failure is logged, never thrown. */
  async writeToken(token: CachedToken, signal: AbortSignal): Promise<void> {
    try {
      const written = await this.deps.cache.write(token, signal);
      if (!written) this.deps.log.info('a newer token was already stored', { connection: token.connection });
    } catch (error) {
      this.degraded('token cache', 'write', token.connection, error);
    }
  }

  async removeToken(connection: string, accessToken: string, signal: AbortSignal): Promise<void> {
    try {
      await this.deps.cache.remove(connection, accessToken, signal);
    } catch (error) {
      this.degraded('token cache', 'remove', connection, error);
    }
  }

  /** Takes or extends the lease (`operation` names which, for the log line). */
  async tryLease(
    connection: string,
    owner: string,
    durationMs: number,
    signal: AbortSignal,
    operation: 'acquire' | 'heartbeat' = 'acquire',
  ): Promise<LeaseAttempt> {
    try {
      const lease = await this.deps.leases.tryAcquire(connection, owner, durationMs, signal);
      return lease.acquired ? 'acquired' : 'held';
    } catch (error) {
      this.degraded('lease store', operation, connection, error);
      return 'unavailable';
    }
  }

  async releaseLease(connection: string, owner: string, signal: AbortSignal): Promise<void> {
    try {
      await this.deps.leases.release(connection, owner, signal);
    } catch (error) {
      this.degraded('lease store', 'release', connection, error);
    }
  }

  private degraded(store: DegradableStore, operation: string, connection: string, error: unknown): void {
    this.deps.telemetry.count(DEGRADED_METRIC[store]);
    logDependencyFailure(
      this.deps.log,
      `${store} unavailable (${operation}); continuing without it`,
      { connection, store, operation },
      error,
    );
  }
}
