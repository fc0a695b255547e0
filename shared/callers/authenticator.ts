import type { Clock } from '../clock';
import { DEFAULT_CALLER_MAX_STALE_SECONDS } from '../config/schema';
import { logDependencyFailure } from '../dependency-guard';
import { CallerLookupThrottledError, StoreUnavailableError, UnauthorizedError } from '../errors';
import type { Log } from '../logging/ports';
import { SingleFlight } from '../single-flight';
import type { Caller, CallerReader, CallerRecord } from './caller';
import { constantTimeEqual, hashSecret, parseKey } from './keys';
import { ReadBudget } from './read-budget';
import { SourceNetworks } from './source-networks';

export interface AuthenticatorOptions {
  readonly store: CallerReader;
  readonly clock: Clock;
  /** How long a caller record is reused; a disabled caller is refused at most this much later. @default 15000 */
  readonly cacheMs?: number;
  /**
   * Records of keys that authenticated in this container: only a key that authenticates adds one,
   * so traffic without a valid key can never evict them. @default 1000
   */
  readonly maxEntries?: number;
  /**
   * Lookups of key ids that never authenticated here (unknown ids, wrong secrets), kept apart.
   * @default 10000
   */
  readonly maxUnverifiedEntries?: number;
  /**
   * Table reads for key ids that never authenticated here, per second, and the burst allowed: a
   * flood of made-up keys costs at most this many reads. Beyond it such a key gets 503 with
   * `Retry-After` (it may be valid), never a read. @default { perSecond: 10, burst: 50 }
   */
  readonly unverifiedReads?: { readonly perSecond: number; readonly burst: number };
  /**
   * While the table is unreachable, a record read at most this long ago still authenticates; past
   * it the caller gets 503. This bounds how long a key disabled just before an outage keeps
   * working. Configured as `callers.maxStaleSeconds` (docs/security.md). @default 300000 (5 min)
   */
  readonly maxStaleMs?: number;
  readonly log?: Log;
}

/** What the caller is told for a key that is unknown, wrong or expired alike. */
const UNKNOWN_KEY = 'unknown or invalid caller key';

interface Entry {
  readonly record: CallerRecord | undefined;
  readonly at: number;
  /** The caller the record describes, built (its source networks parsed) once per record read. */
  caller?: Caller;
}

function callerOf(record: CallerRecord): Caller {
  return {
    keyId: record.keyId,
    name: record.name,
    scopes: record.scopes,
    ...(record.sourceCidrs ? { sourceNetworks: new SourceNetworks(record.sourceCidrs) } : {}),
  };
}

/**
 * Authenticates `Authorization: Bearer tb_<keyId>_<secret>`. Every failure is the same 401 to the
 * caller (the message says which kind, for the problem detail, but never echoes the key).
 *
 * Two caches, kept apart (docs/design.md "Callers"): records of keys that authenticated here
 * (least recently used out first, only ever filled by an authentication), and what lookups of
 * other key ids found (a record or nothing, first in first out). Table reads for the second kind
 * are rationed by a {@link ReadBudget}.
 */
export class CallerAuthenticator {
  private readonly verified = new Map<string, Entry>();
  private readonly unverified = new Map<string, Entry>();
  /** One table read per key id at a time: a burst of first requests shares it. */
  private readonly inFlight = new SingleFlight<CallerRecord | undefined>();
  private readonly budget: ReadBudget;
  private readonly cacheMs: number;
  private readonly maxEntries: number;
  private readonly maxUnverifiedEntries: number;
  private readonly maxStaleMs: number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.cacheMs = options.cacheMs ?? 15_000;
    this.maxEntries = options.maxEntries ?? 1000;
    this.maxUnverifiedEntries = options.maxUnverifiedEntries ?? 10_000;
    this.maxStaleMs = options.maxStaleMs ?? DEFAULT_CALLER_MAX_STALE_SECONDS * 1000;
    this.budget = new ReadBudget({
      clock: options.clock,
      ...(options.unverifiedReads ?? { perSecond: 10, burst: 50 }),
    });
  }

  /**
   * @param signal the request's deadline: a table read that outlives it is abandoned
   * @throws UnauthorizedError for a missing, malformed, unknown, wrong, disabled or expired key
   *   (its `reason` says which, for the log line)
   * @throws StoreUnavailableError when the record cannot be read and none recent enough is held
   * @throws CallerLookupThrottledError when a key never verified here would need a read past the budget
   */
  async authenticate(authorization: string | undefined, signal: AbortSignal): Promise<Caller> {
    if (authorization === undefined || authorization.trim() === '') {
      throw new UnauthorizedError('missing Authorization header (expected "Bearer <caller key>")', {
        reason: 'missing',
      });
    }
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1])
      throw new UnauthorizedError('Authorization header must be "Bearer <caller key>"', {
        reason: 'malformed',
      });
    const parsed = parseKey(match[1]);
    if (!parsed) throw new UnauthorizedError('malformed caller key', { reason: 'malformed' });
    const { keyId } = parsed;
    const secretHash = hashSecret(parsed.secret);
    const known = this.verified.get(keyId);
    const found = known ? await this.refreshed(keyId, known, signal) : await this.lookup(keyId, signal);
    const { record } = found;
    // Compare even when the record is missing, so unknown and wrong keys take the same time.
    const matches = constantTimeEqual(secretHash, record?.secretHash ?? '');
    if (!record || !matches) {
      if (!known) this.remember(this.unverified, keyId, found, this.maxUnverifiedEntries);
      throw new UnauthorizedError(UNKNOWN_KEY);
    }
    // Authenticated: only now may the record take a place among the verified ones (or move up).
    if (!known) this.unverified.delete(keyId);
    this.remember(this.verified, keyId, found, this.maxEntries);
    if (record.disabled) throw new UnauthorizedError('caller key disabled', { reason: 'disabled', keyId });
    // Checked on every request against the clock, not when the record was read: an expiry holds to
    // the millisecond. The caller is told no more than for an unknown key; the log line says why.
    if (record.expiresAt !== undefined && this.options.clock.now() >= Date.parse(record.expiresAt))
      throw new UnauthorizedError(UNKNOWN_KEY, { reason: 'expired', keyId });
    found.caller ??= callerOf(record);
    return found.caller;
  }

  /** A verified key's record: as held while fresh, else read again (the outage rules apply). */
  private async refreshed(keyId: string, held: Entry, signal: AbortSignal): Promise<Entry> {
    const now = this.options.clock.now();
    if (now - held.at < this.cacheMs) return held;
    // A re-read already under way may be the one probe of a hanging table: go on with the held
    // record (within the outage bound) rather than wait for it.
    if (this.inFlight.has(keyId) && now - held.at < this.maxStaleMs) return held;
    try {
      const record = await this.inFlight.run(keyId, () => this.options.store.get(keyId, signal));
      // Kept whatever the key presented: a wrong secret (key ids are in logs and audit records) or
      // a deleted record must not cost a read on every request. Replaced in place, without moving
      // up: only an authentication counts as a use.
      const reread = { record, at: now };
      this.verified.set(keyId, reread);
      return reread;
    } catch (error) {
      return this.heldInOutage(keyId, held, error);
    }
  }

  /** A key id never verified here: what an earlier lookup found, or one rationed table read. */
  private async lookup(keyId: string, signal: AbortSignal): Promise<Entry> {
    const now = this.options.clock.now();
    const seen = this.unverified.get(keyId);
    if (seen && now - seen.at < this.cacheMs) return seen;
    if (!this.inFlight.has(keyId) && !this.budget.take()) {
      throw new CallerLookupThrottledError('too many caller keys to verify at once', {
        retryable: false,
        retryAfterMs: 1000,
      });
    }
    try {
      return { record: await this.inFlight.run(keyId, () => this.options.store.get(keyId, signal)), at: now };
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  private heldInOutage(keyId: string, held: Entry, error: unknown): Entry {
    const age = this.options.clock.now() - held.at;
    if (age >= this.maxStaleMs) throw this.unavailable(error);
    if (this.options.log)
      logDependencyFailure(
        this.options.log,
        'caller store unavailable; using the cached caller record',
        { caller: keyId, recordAgeSeconds: Math.floor(age / 1000), maxStaleSeconds: this.maxStaleMs / 1000 },
        error,
      );
    return held;
  }

  private unavailable(error: unknown): StoreUnavailableError {
    return new StoreUnavailableError('caller keys cannot be verified right now', {
      cause: error,
      retryable: false,
      retryAfterMs: 1000,
    });
  }

  /** Puts an entry last in its map (most recently used), evicting the first one past `max`. */
  private remember(map: Map<string, Entry>, keyId: string, entry: Entry, max: number): void {
    map.delete(keyId);
    map.set(keyId, entry);
    while (map.size > max) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  }
}
