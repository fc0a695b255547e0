import { randomUUID } from 'node:crypto';
import { type Clock, type Random, sleep as realSleep, type Sleep, systemClock } from '../clock';
import type { Connection } from '../config/schema';
import { type Deadline, startDeadline } from '../deadline';
import { UnknownConnectionError, UpstreamTokenRejectedError } from '../errors';
import type { Log, Telemetry } from '../logging/ports';
import { noTelemetry, silentLog } from '../logging/ports';
import type { SensitiveValues } from '../logging/redaction';
import { SingleFlight } from '../single-flight';
import { TokenAcceptance } from './acceptance';
import { LeaseCoordinator } from './lease-coordinator';
import type { LeaseStore, SecretStore, TokenCache, TokenProvider } from './ports';
import type { RefreshPolicy, TokenState } from './refresh-policy';
import { tokenState } from './refresh-policy';
import { ResilientStores } from './resilient-stores';
import type { CachedToken } from './token';
import { TokenAcquirer } from './token-acquirer';
import { type LoadRequest, TokenLoader, type TokenResult } from './token-loader';

export type { TokenOrigin, TokenResult } from './token-loader';

export interface GetOptions {
  /**
   * When the whole call must end, with the signal every store call gets.
   * @default now + defaultBudgetMs, with a signal of its own
   */
  readonly deadline?: Deadline;
}

export interface TokenSourceDeps {
  readonly connections: Readonly<Record<string, Connection>>;
  /** The provider (one token-endpoint attempt) of each connection. */
  readonly providers: Readonly<Record<string, TokenProvider>>;
  readonly cache: TokenCache;
  readonly leases: LeaseStore;
  readonly secrets: SecretStore;
  readonly policy: RefreshPolicy;
  /** The registry the process's logger masks; every secret and token acquired is registered in it. */
  readonly sensitive: SensitiveValues;
  readonly clock?: Clock;
  readonly sleep?: Sleep;
  readonly random?: Random;
  readonly log?: Log;
  readonly telemetry?: Telemetry;
  /** Identifies this process in leases. @default a random UUID */
  readonly ownerId?: string;
  /** How long a lease holds without a heartbeat. @default LEASE_TIMING.leaseMs (5000) */
  readonly leaseMs?: number;
  /** A memory (L1) entry older than this is checked against the table (L2). @default 30000 */
  readonly l1MaxAgeMs?: number;
  /** Budget of a call without a deadline. @default 8000 */
  readonly defaultBudgetMs?: number;
}

/** How {@link TokenSource.withToken} starts, and how it tells a refusal it answers with a value. */
export interface WithTokenOptions<T> {
  /**
   * The token to start with, when the caller already holds one (the request's own `get()`, or
   * what `refreshDue` left). @default get()
   */
  readonly first?: TokenResult;
  /** Whether a value `call` returned says upstream refused the token. @default none does */
  readonly refused?: (value: T) => boolean;
}

/** What {@link TokenSource.withToken} returns: the call's value and the token it was made with. */
export interface TokenCall<T> extends TokenResult {
  readonly value: T;
  /** Upstream refused the first token: this one replaced it. */
  readonly renewed: boolean;
}

interface Remembered {
  readonly token: CachedToken;
  readonly checkedAt: number;
}

/**
 * Upstream access tokens, as docs/design.md "Token lifecycle" describes: requests take any usable
 * token and never wait for a refresh; only a request that finds no usable token acquires one, once
 * per process (single flight) and once across processes (the lease). A failing table degrades to a
 * direct acquisition and never fails a request that upstream could serve. The refresher's half,
 * `refreshDue`, is `RefreshingTokenSource` (refreshing-token-source.ts), in a module of its own so
 * the API function's bundle carries none of it.
 *
 * @example
 * const tokens = new TokenSource({ connections, providers, cache, leases, secrets, policy, sensitive });
 * const { token, origin } = await tokens.get('oms', { deadline: Date.now() + 5_000 });
 * // on a 401 from the partner API:
 * await tokens.invalidate('oms', token);
 */
export class TokenSource {
  readonly ownerId: string;
  protected readonly memory = new Map<string, Remembered>();
  private readonly inFlight = new SingleFlight<TokenResult>();
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly telemetry: Telemetry;
  protected readonly stores: ResilientStores;
  protected readonly acceptance: TokenAcceptance;
  private readonly loader: TokenLoader;
  private readonly l1MaxAgeMs: number;
  private readonly defaultBudgetMs: number;

  constructor(protected readonly deps: TokenSourceDeps) {
    const { providers, secrets, sensitive, policy } = deps;
    this.clock = deps.clock ?? systemClock;
    this.telemetry = deps.telemetry ?? noTelemetry;
    this.ownerId = deps.ownerId ?? randomUUID();
    this.log = deps.log ?? silentLog;
    const { clock, log, telemetry, ownerId } = this;
    const sleep = deps.sleep ?? realSleep;
    const random = deps.random ?? Math.random;
    const stores = new ResilientStores({ cache: deps.cache, leases: deps.leases, log, telemetry });
    const acceptance = new TokenAcceptance({ secrets, policy, clock, log });
    this.stores = stores;
    this.acceptance = acceptance;
    const leaseMs = deps.leaseMs !== undefined ? { leaseMs: deps.leaseMs } : {};
    const lease = new LeaseCoordinator({ stores, ownerId, clock, sleep, telemetry, ...leaseMs });
    const acquirer = new TokenAcquirer({
      providers,
      secrets,
      sensitive,
      clock,
      sleep,
      random,
      log,
      telemetry,
    });
    this.loader = new TokenLoader({ stores, acceptance, lease, acquirer, telemetry, clock });
    this.l1MaxAgeMs = deps.l1MaxAgeMs ?? 30_000;
    this.defaultBudgetMs = deps.defaultBudgetMs ?? 8_000;
  }

  /** A usable token for a request: from memory, the table, or (only if none) the token endpoint. */
  async get(connection: string, options: GetOptions = {}): Promise<TokenResult> {
    const { secretId } = this.connection(connection);
    const now = this.clock.now();
    const remembered = this.memory.get(connection);
    const usable =
      remembered !== undefined && this.acceptance.accepts(remembered.token, secretId, 'request', now);
    // A usable token in memory serves at once while its re-check against the table is already
    // under way: that re-check may be the one probe of a hanging table, and nobody waits for it.
    if (usable && (now - remembered.checkedAt < this.l1MaxAgeMs || this.inFlight.has(connection))) {
      this.telemetry.count('TokenCacheHitL1');
      return { token: remembered.token, origin: 'l1' };
    }
    return this.within(options.deadline, (deadline) =>
      this.load({
        connection,
        secretId,
        reader: 'request',
        deadline: deadline.at,
        signal: deadline.signal,
        invocation: deadline.invocation,
        remembered: remembered?.token,
      }),
    );
  }

  /**
   * Calls upstream with the connection's token, renewing it once if upstream refuses it: the
   * renew-once rule of docs/design.md "Invalidation and secrets". Upstream refuses a token (a 401)
   * by `call` throwing {@link UpstreamTokenRejectedError}, or by a value `options.refused`
   * recognises; then the token is dropped (`invalidate`), a new one is taken as `get()` takes one,
   * and `call` runs once more with it, whatever it answers then.
   *
   * @returns the call's value, and the token it was made with and where that came from
   * @throws what `call` throws (a second refusal included), or what taking the new token threw
   * @example
   * const { value: ticket, origin } = await tokens.withToken('astrato', deadline, (token) =>
   *   astrato.setup(token.accessToken, user, deadline.at),
   * );
   */
  async withToken<T>(
    connection: string,
    deadline: Deadline,
    call: (token: CachedToken) => Promise<T>,
    options: WithTokenOptions<T> = {},
  ): Promise<TokenCall<T>> {
    const { token, origin } = options.first ?? (await this.get(connection, { deadline }));
    try {
      const value = await call(token);
      if (!options.refused?.(value)) return { value, token, origin, renewed: false };
    } catch (error) {
      if (!(error instanceof UpstreamTokenRejectedError)) throw error;
    }
    this.log.warn('upstream refused the token; renewing it once', { connection });
    await this.invalidate(connection, token, deadline);
    const renewed = await this.get(connection, { deadline });
    return { value: await call(renewed.token), ...renewed, renewed: true };
  }

  /**
   * The upstream refused this token (401): drop it from memory and the table (unless a newer one
   * replaced it) so that the next `get()` acquires a new one.
   */
  async invalidate(connection: string, token: CachedToken, deadline?: Deadline): Promise<void> {
    if (this.memory.get(connection)?.token.accessToken === token.accessToken) this.memory.delete(connection);
    this.telemetry.count('TokenInvalidated');
    await this.within(deadline, ({ signal }) =>
      this.stores.removeToken(connection, token.accessToken, signal),
    );
  }

  /** The stored token and its state, for `/status`; never triggers an acquisition. */
  async inspect(
    connection: string,
    signal: AbortSignal,
  ): Promise<{ state: TokenState | 'none'; token?: CachedToken }> {
    this.connection(connection);
    const token = await this.deps.cache.read(connection, signal);
    if (!token) return { state: 'none' };
    return { state: tokenState(token, this.clock.now(), this.deps.policy), token };
  }

  protected connection(connection: string): Connection {
    const config = this.deps.connections[connection];
    if (!config || !Object.hasOwn(this.deps.connections, connection))
      throw new UnknownConnectionError(connection);
    return config;
  }

  /** Runs `work` within the caller's deadline, or within one of its own (now + the default budget). */
  protected async within<T>(
    deadline: Deadline | undefined,
    work: (deadline: Deadline) => Promise<T>,
  ): Promise<T> {
    if (deadline) return work(deadline);
    const own = startDeadline(this.clock.now() + this.defaultBudgetMs, this.clock);
    try {
      return await work(own);
    } finally {
      own.dispose();
    }
  }

  /** One load per connection at a time in this process; what it finds is remembered (L1). */
  protected load(request: LoadRequest): Promise<TokenResult> {
    return this.inFlight.run(request.connection, async () => {
      const result = await this.loader.load(request);
      if (result.origin !== 'l1') this.remember(result.token);
      return result;
    });
  }

  protected remember(token: CachedToken): void {
    this.memory.set(token.connection, { token, checkedAt: this.clock.now() });
  }
}
