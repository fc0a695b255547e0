import type { Clock } from '../clock';
import { DEFAULT_CALLER_MAX_STALE_SECONDS } from '../config/schema';
import { describeError, StoreUnavailableError, UnauthorizedError } from '../errors';
import type { Log } from '../tokens/ports';
import { SingleFlight } from '../tokens/single-flight';
import type { Caller, CallerRecord, CallerStore } from './caller';
import { constantTimeEqual, hashSecret, parseKey } from './keys';

export interface AuthenticatorOptions {
  readonly store: CallerStore;
  readonly clock: Clock;
  /** How long a caller record is reused; a disabled caller is refused at most this much later. @default 15000 */
  readonly cacheMs?: number;
  /** Bound on cached records (unknown key ids are cached too, so guessing costs no table reads). @default 1000 */
  readonly maxEntries?: number;
  /**
   * While the table is unreachable, a record read at most this long ago still authenticates; past
   * it the caller gets 503. This bounds how long a key disabled just before an outage keeps
   * working. Configured as `callers.maxStaleSeconds` (docs/security.md). @default 300000 (5 min)
   */
  readonly maxStaleMs?: number;
  readonly log?: Log;
}

/**
 * Authenticates `Authorization: Bearer tb_<keyId>_<secret>`. Every failure is the same 401 to the
 * caller (the message says which kind, for the problem detail, but never echoes the key).
 */
export class CallerAuthenticator {
  private readonly cache = new Map<string, { record: CallerRecord | undefined; at: number }>();
  /** One table read per key id at a time: a burst of first requests shares it. */
  private readonly inFlight = new SingleFlight<CallerRecord | undefined>();
  private readonly cacheMs: number;
  private readonly maxEntries: number;
  private readonly maxStaleMs: number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.cacheMs = options.cacheMs ?? 15_000;
    this.maxEntries = options.maxEntries ?? 1000;
    this.maxStaleMs = options.maxStaleMs ?? DEFAULT_CALLER_MAX_STALE_SECONDS * 1000;
  }

  async authenticate(authorization: string | undefined): Promise<Caller> {
    if (authorization === undefined || authorization.trim() === '') {
      throw new UnauthorizedError('missing Authorization header (expected "Bearer <caller key>")');
    }
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw new UnauthorizedError('Authorization header must be "Bearer <caller key>"');
    const parsed = parseKey(match[1]);
    if (!parsed) throw new UnauthorizedError('malformed caller key');
    const record = await this.lookup(parsed.keyId);
    // Compare even when the record is missing, so unknown and wrong keys take the same time.
    const matches = constantTimeEqual(hashSecret(parsed.secret), record?.secretHash ?? '');
    if (!record || !matches) throw new UnauthorizedError('unknown or invalid caller key');
    if (record.disabled) throw new UnauthorizedError('caller key disabled');
    return { keyId: record.keyId, name: record.name, scopes: record.scopes };
  }

  private lookup(keyId: string): Promise<CallerRecord | undefined> {
    const cached = this.cache.get(keyId);
    if (cached && this.options.clock.now() - cached.at < this.cacheMs) return Promise.resolve(cached.record);
    return this.inFlight.run(keyId, () => this.read(keyId));
  }

  private async read(keyId: string): Promise<CallerRecord | undefined> {
    const now = this.options.clock.now();
    const cached = this.cache.get(keyId);
    let record: CallerRecord | undefined;
    try {
      record = await this.options.store.get(keyId);
    } catch (error) {
      // The table is unreachable: a recently seen record still serves (a disabled flag included).
      if (cached && now - cached.at < this.maxStaleMs) {
        this.options.log?.warn('caller store unavailable; using the cached caller record', {
          error: describeError(error),
          recordAgeSeconds: Math.floor((now - cached.at) / 1000),
          maxStaleSeconds: this.maxStaleMs / 1000,
        });
        return cached.record;
      }
      throw new StoreUnavailableError('caller keys cannot be verified right now', {
        cause: error,
        retryable: false,
        retryAfterMs: 1000,
      });
    }
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(keyId);
    this.cache.set(keyId, { record, at: now });
    return record;
  }
}
