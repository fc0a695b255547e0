import { randomUUID } from 'node:crypto';
import { type Clock, type Random, sleep as realSleep, type Sleep, systemClock } from '../clock';
import type { Connection } from '../config/schema';
import {
  ConfigurationError,
  describeError,
  InvalidClientError,
  UnknownConnectionError,
  UpstreamUnavailableError,
} from '../errors';
import { registerSensitive } from '../logging/redaction';
import type { LeaseStore, Log, SecretStore, Telemetry, TokenCache, TokenProvider } from './ports';
import { noTelemetry, silentLog } from './ports';
import { isUsable, type RefreshPolicy, type TokenState, tokenState } from './refresh-policy';
import { withRetry } from './retry';
import type { CachedToken, ClientCredentials } from './token';

/**
 * Where a request's token came from. `acquired` and `waited` mean the request waited for a token
 * endpoint (its own call, or another process's under the lease): the refresher exists so that
 * requests see only `l1` and `l2`.
 */
export type TokenOrigin = 'l1' | 'l2' | 'acquired' | 'waited';

export interface TokenResult {
  readonly token: CachedToken;
  readonly origin: TokenOrigin;
}

export interface GetOptions {
  /** Epoch ms by which the whole call must end. @default now + defaultBudgetMs */
  readonly deadline?: number;
}

export type RefreshOutcome =
  | { readonly connection: string; readonly action: 'fresh' | 'renewed'; readonly token: CachedToken }
  | {
      readonly connection: string;
      readonly action: 'failed';
      readonly error: Error;
      readonly token?: CachedToken;
    };

export interface TokenSourceDeps {
  readonly connections: Readonly<Record<string, Connection>>;
  /** The provider (one token-endpoint attempt) of each connection. */
  readonly providers: Readonly<Record<string, TokenProvider>>;
  readonly cache: TokenCache;
  readonly leases: LeaseStore;
  readonly secrets: SecretStore;
  readonly policy: RefreshPolicy;
  readonly clock?: Clock;
  readonly sleep?: Sleep;
  readonly random?: Random;
  readonly log?: Log;
  readonly telemetry?: Telemetry;
  /** Identifies this process in leases. @default a random UUID */
  readonly ownerId?: string;
  /**
   * How long a lease holds without a heartbeat. The holder extends it every third of this while it
   * works, so a holder that died is noticed within this time. @default 5000
   */
  readonly leaseMs?: number;
  /** An L1 entry older than this is checked against L2 (picks up refreshed or invalidated tokens). @default 30000 */
  readonly l1MaxAgeMs?: number;
  /** Budget of a call without a deadline. @default 8000 */
  readonly defaultBudgetMs?: number;
}

interface L1Entry {
  readonly token: CachedToken;
  readonly checkedAt: number;
}

type Mode = 'request' | 'refresh';

/**
 * The token source of DESIGN.md "Token lifecycle": requests take any usable token and never wait
 * for a refresh; only a request that finds no usable token acquires one, once per process
 * (in-flight promise) and once across processes (DynamoDB lease). A cache or lease failure
 * degrades to a direct acquisition and never fails a request that upstream could serve.
 */
export class TokenSource {
  private readonly l1 = new Map<string, L1Entry>();
  private readonly inFlight = new Map<string, Promise<TokenResult>>();
  private readonly clock: Clock;
  private readonly sleep: Sleep;
  private readonly random: Random;
  private readonly log: Log;
  private readonly telemetry: Telemetry;
  readonly ownerId: string;
  private readonly leaseMs: number;
  private readonly l1MaxAgeMs: number;
  private readonly defaultBudgetMs: number;

  constructor(private readonly deps: TokenSourceDeps) {
    this.clock = deps.clock ?? systemClock;
    this.sleep = deps.sleep ?? realSleep;
    this.random = deps.random ?? Math.random;
    this.log = deps.log ?? silentLog;
    this.telemetry = deps.telemetry ?? noTelemetry;
    this.ownerId = deps.ownerId ?? randomUUID();
    this.leaseMs = deps.leaseMs ?? 5_000;
    this.l1MaxAgeMs = deps.l1MaxAgeMs ?? 30_000;
    this.defaultBudgetMs = deps.defaultBudgetMs ?? 8_000;
  }

  /** A usable token for a request: from memory, the table, or (only if none) the token endpoint. */
  async get(connection: string, options: GetOptions = {}): Promise<TokenResult> {
    const config = this.connection(connection);
    const now = this.clock.now();
    const entry = this.l1.get(connection);
    if (
      entry &&
      now - entry.checkedAt < this.l1MaxAgeMs &&
      this.acceptable(entry.token, config, 'request', now)
    ) {
      this.telemetry.count('TokenCacheHitL1');
      return { token: entry.token, origin: 'l1' };
    }
    const deadline = options.deadline ?? now + this.defaultBudgetMs;
    return this.singleFlight(connection, () =>
      this.load(connection, config, 'request', deadline, entry?.token),
    );
  }

  /**
   * Renews the connection's token if it is due, expired, missing, or minted with an older secret;
   * leaves a fresh one alone. Runs under the same lease as requests, so it never races them.
   */
  async refreshDue(connection: string, options: GetOptions = {}): Promise<RefreshOutcome> {
    const config = this.connection(connection);
    const deadline = options.deadline ?? this.clock.now() + this.defaultBudgetMs;
    let known: CachedToken | undefined;
    try {
      // Read the secret's current version now, so a rotation is seen within one schedule period.
      await this.deps.secrets.get(config.secretId, { refresh: true });
      known = await this.deps.cache.read(connection).catch((error: unknown) => {
        this.degraded(connection, 'cache read', error);
        return undefined;
      });
      if (known && this.acceptable(known, config, 'refresh', this.clock.now())) {
        this.rememberL1(known);
        return { connection, action: 'fresh', token: known };
      }
      const result = await this.singleFlight(connection, () =>
        this.load(connection, config, 'refresh', deadline, this.l1.get(connection)?.token),
      );
      return { connection, action: 'renewed', token: result.token };
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      return known
        ? { connection, action: 'failed', error: err, token: known }
        : { connection, action: 'failed', error: err };
    }
  }

  /**
   * The upstream refused this token (401): drop it from L1 and L2 (unless a newer one replaced it)
   * so that the next `get()` acquires a new one.
   */
  async invalidate(connection: string, token: CachedToken): Promise<void> {
    const entry = this.l1.get(connection);
    if (entry?.token.accessToken === token.accessToken) this.l1.delete(connection);
    this.telemetry.count('TokenInvalidated');
    try {
      await this.deps.cache.remove(connection, token.accessToken);
    } catch (error) {
      this.degraded(connection, 'cache remove', error);
    }
  }

  /** The stored token and its state, for `/status`; never triggers an acquisition. */
  async inspect(connection: string): Promise<{ state: TokenState | 'none'; token?: CachedToken }> {
    this.connection(connection);
    const token = await this.deps.cache.read(connection);
    if (!token) return { state: 'none' };
    return { state: tokenState(token, this.clock.now(), this.deps.policy), token };
  }

  /** Forgets this process's memory (L1); the shared cache is untouched. */
  clearMemory(): void {
    this.l1.clear();
  }

  private connection(connection: string): Connection {
    const config = this.deps.connections[connection];
    if (!config || !Object.hasOwn(this.deps.connections, connection))
      throw new UnknownConnectionError(connection);
    return config;
  }

  private singleFlight(connection: string, run: () => Promise<TokenResult>): Promise<TokenResult> {
    const pending = this.inFlight.get(connection);
    if (pending) return pending;
    const started = run().finally(() => this.inFlight.delete(connection));
    this.inFlight.set(connection, started);
    return started;
  }

  /**
   * Whether a token may serve: for a request, usable; for the refresher, not yet due. Either way
   * it must not come from an older secret than the newest this process has seen.
   */
  private acceptable(token: CachedToken, config: Connection, mode: Mode, now: number): boolean {
    const version = this.deps.secrets.knownVersion(config.secretId);
    if (version !== undefined && token.secretVersion !== version) return false;
    return mode === 'request'
      ? isUsable(token, now, this.deps.policy)
      : tokenState(token, now, this.deps.policy) === 'fresh';
  }

  /**
   * A token from another process whose secret version differs from the one this process knows:
   * re-read the secret once to learn which is current, then judge again.
   */
  private async acceptableAfterVersionCheck(
    token: CachedToken,
    config: Connection,
    mode: Mode,
  ): Promise<boolean> {
    if (this.acceptable(token, config, mode, this.clock.now())) return true;
    const version = this.deps.secrets.knownVersion(config.secretId);
    if (version === undefined || token.secretVersion === version) return false;
    try {
      await this.deps.secrets.get(config.secretId, { refresh: true });
    } catch (error) {
      this.log.warn('secret version check failed', {
        connection: token.connection,
        error: describeError(error),
      });
      return false;
    }
    return this.acceptable(token, config, mode, this.clock.now());
  }

  private async load(
    connection: string,
    config: Connection,
    mode: Mode,
    deadline: number,
    memory: CachedToken | undefined,
  ): Promise<TokenResult> {
    let stored: CachedToken | undefined;
    try {
      stored = await this.deps.cache.read(connection);
    } catch (error) {
      this.degraded(connection, 'cache read', error);
      if (mode === 'request' && memory && this.acceptable(memory, config, mode, this.clock.now())) {
        return { token: memory, origin: 'l1' };
      }
      return this.acquireDirect(connection, config, deadline, memory);
    }
    if (stored && (await this.acceptableAfterVersionCheck(stored, config, mode))) {
      this.telemetry.count('TokenCacheHitL2');
      this.rememberL1(stored);
      return { token: stored, origin: 'l2' };
    }
    if (mode === 'request') this.telemetry.count('TokenCacheMiss');
    return this.acquireUnderLease(connection, config, mode, deadline, stored ?? memory);
  }

  /**
   * Cross-process single flight: the lease holder calls the token endpoint; the others poll the
   * table until the holder's token appears, the lease frees up (they take it), or time runs out.
   */
  private async acquireUnderLease(
    connection: string,
    config: Connection,
    mode: Mode,
    deadline: number,
    previous: CachedToken | undefined,
  ): Promise<TokenResult> {
    const waitStarted = this.clock.now();
    let pollMs = 20;
    let waited = false;
    for (;;) {
      let lease: { acquired: boolean };
      try {
        lease = await this.deps.leases.tryAcquire(connection, this.ownerId, this.leaseMs);
      } catch (error) {
        this.degraded(connection, 'lease', error);
        return this.acquireDirect(connection, config, deadline, previous);
      }
      if (lease.acquired) {
        return this.acquireHoldingLease(connection, config, mode, deadline, previous, waited);
      }
      waited = true;
      const remaining = deadline - this.clock.now();
      if (remaining <= pollMs) {
        this.telemetry.count('TokenLeaseWaitTimeout');
        throw new UpstreamUnavailableError(
          `connection ${connection}: another process is acquiring a token and did not finish in time`,
          { retryable: false, retryAfterMs: 1000 },
        );
      }
      await this.sleep(pollMs);
      pollMs = Math.min(250, Math.ceil(pollMs * 1.5));
      let stored: CachedToken | undefined;
      try {
        stored = await this.deps.cache.read(connection);
      } catch (error) {
        this.degraded(connection, 'cache read', error);
        return this.acquireDirect(connection, config, deadline, previous);
      }
      if (stored && (await this.acceptableAfterVersionCheck(stored, config, mode))) {
        this.telemetry.timing('TokenLeaseWait', this.clock.now() - waitStarted);
        this.rememberL1(stored);
        return { token: stored, origin: 'waited' };
      }
      if (stored) previous = stored;
    }
  }

  private async acquireHoldingLease(
    connection: string,
    config: Connection,
    mode: Mode,
    deadline: number,
    previous: CachedToken | undefined,
    waited: boolean,
  ): Promise<TokenResult> {
    try {
      // Another holder may have finished between our read and our lease.
      const stored = await this.deps.cache.read(connection).catch((error: unknown) => {
        this.degraded(connection, 'cache read', error);
        return undefined;
      });
      if (stored && (await this.acceptableAfterVersionCheck(stored, config, mode))) {
        this.rememberL1(stored);
        return { token: stored, origin: waited ? 'waited' : 'l2' };
      }
      const token = await this.withHeartbeat(connection, () =>
        this.acquireFromUpstream(connection, config, deadline, stored ?? previous),
      );
      try {
        const written = await this.deps.cache.write(token);
        if (!written) this.log.info('a newer token was already stored', { connection });
      } catch (error) {
        this.degraded(connection, 'cache write', error);
      }
      this.rememberL1(token);
      return { token, origin: 'acquired' };
    } finally {
      await this.deps.leases.release(connection, this.ownerId).catch((error: unknown) => {
        this.degraded(connection, 'lease release', error);
      });
    }
  }

  /** Keeps the lease alive while `work` runs, so only a holder that died lets it expire. */
  private async withHeartbeat<T>(connection: string, work: () => Promise<T>): Promise<T> {
    const beat = setInterval(
      () => {
        this.deps.leases.tryAcquire(connection, this.ownerId, this.leaseMs).catch((error: unknown) => {
          this.degraded(connection, 'lease heartbeat', error);
        });
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    beat.unref();
    try {
      return await work();
    } finally {
      clearInterval(beat);
    }
  }

  /** The degraded path (no table): still one call per process, thanks to `singleFlight`. */
  private async acquireDirect(
    connection: string,
    config: Connection,
    deadline: number,
    previous: CachedToken | undefined,
  ): Promise<TokenResult> {
    const token = await this.acquireFromUpstream(connection, config, deadline, previous);
    this.rememberL1(token);
    return { token, origin: 'acquired' };
  }

  /**
   * One acquisition: secret, provider attempts with retries, and on `invalid_client` one re-read of
   * the secret (it may have been rotated) before failing loudly as a configuration error.
   */
  private async acquireFromUpstream(
    connection: string,
    config: Connection,
    deadline: number,
    previous: CachedToken | undefined,
  ): Promise<CachedToken> {
    const provider = this.deps.providers[connection];
    if (!provider) throw new ConfigurationError(`connection ${connection}: no provider configured`);
    const started = this.clock.now();
    const attempt = async (credentials: ClientCredentials): Promise<CachedToken> =>
      withRetry(
        () => provider.requestToken({ connection, credentials, deadline, ...(previous ? { previous } : {}) }),
        {
          deadline,
          clock: this.clock,
          sleep: this.sleep,
          random: this.random,
          onRetry: (error, attemptNumber, delayMs) =>
            this.log.warn('token endpoint attempt failed, retrying', {
              connection,
              attempt: attemptNumber,
              delayMs,
              error: describeError(error),
            }),
        },
      );
    try {
      let credentials = await this.deps.secrets.get(config.secretId);
      registerSensitive(credentials.clientSecret);
      let token: CachedToken;
      try {
        token = await attempt(credentials);
      } catch (error) {
        if (!(error instanceof InvalidClientError)) throw error;
        const reread = await this.deps.secrets.get(config.secretId, { refresh: true });
        if (reread.versionId === credentials.versionId) throw this.misconfigured(connection, error);
        this.log.info('client credentials refused; retrying once with the newer secret version', {
          connection,
        });
        credentials = reread;
        registerSensitive(credentials.clientSecret);
        try {
          token = await attempt(credentials);
        } catch (second) {
          throw second instanceof InvalidClientError ? this.misconfigured(connection, second) : second;
        }
      }
      registerSensitive(token.accessToken);
      if (token.refreshToken) registerSensitive(token.refreshToken);
      this.telemetry.count('TokenAcquired', 1, { connection });
      this.telemetry.timing('TokenAcquireLatency', this.clock.now() - started);
      this.log.info('token acquired', {
        connection,
        expiresAt: new Date(token.expiresAt).toISOString(),
        lifetimeSeconds: Math.round((token.expiresAt - token.obtainedAt) / 1000),
        refreshTokenIssued: token.refreshToken !== undefined,
        durationMs: this.clock.now() - started,
      });
      return token;
    } catch (error) {
      this.telemetry.count('TokenAcquireFailed', 1, { connection });
      this.log.warn('token acquisition failed', { connection, error: describeError(error) });
      throw error;
    }
  }

  private misconfigured(connection: string, cause: InvalidClientError): ConfigurationError {
    this.log.error('upstream refuses the client credentials (invalid_client): fix the secret', {
      connection,
      upstreamStatus: cause.upstreamStatus,
    });
    return new ConfigurationError(`connection ${connection}: upstream refuses the client credentials`, {
      cause,
    });
  }

  private rememberL1(token: CachedToken): void {
    this.l1.set(token.connection, { token, checkedAt: this.clock.now() });
  }

  private degraded(connection: string, operation: string, error: unknown): void {
    this.telemetry.count('TokenCacheDegraded');
    this.log.warn(`token cache unavailable (${operation}); continuing without it`, {
      connection,
      error: describeError(error),
    });
  }
}
