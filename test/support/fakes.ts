import type { AuditQuery, AuditReader, AuditRecord, AuditTrail } from '../../shared/audit/audit-trail';
import type { CallerChanges, CallerRecord, CallerStore, LastUseStore } from '../../shared/callers/caller';
import type { Clock } from '../../shared/clock';
import type {
  LeaseResult,
  LeaseStore,
  SecretReadOptions,
  SecretStore,
  TokenCache,
  TokenProvider,
  TokenRequest,
} from '../../shared/tokens/ports';
import type { CachedToken, ClientCredentials } from '../../shared/tokens/token';

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  constructor(private current = Date.parse('2026-11-22T10:00:00Z')) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  /** A `sleep` that advances this clock instead of waiting, then yields to other promises. */
  readonly sleep = async (ms: number): Promise<void> => {
    this.current += ms;
    await new Promise((resolve) => setImmediate(resolve));
  };
}

/** In-memory L2 with the same rules as the DynamoDB adapter; can be switched off. */
export class MemoryTokenCache implements TokenCache {
  readonly items = new Map<string, CachedToken>();
  failing = false;
  reads = 0;
  constructor(private readonly clock: Clock) {}
  private check(): void {
    if (this.failing) throw new Error('cache unavailable');
  }
  async read(connection: string): Promise<CachedToken | undefined> {
    this.check();
    this.reads++;
    const token = this.items.get(connection);
    if (!token) return undefined;
    const last = token.refreshToken
      ? Math.max(token.expiresAt, token.refreshExpiresAt ?? 0)
      : token.expiresAt;
    return last > this.clock.now() ? token : undefined;
  }
  async write(token: CachedToken): Promise<boolean> {
    this.check();
    const existing = this.items.get(token.connection);
    if (existing && existing.obtainedAt >= token.obtainedAt && existing.expiresAt > this.clock.now())
      return false;
    this.items.set(token.connection, token);
    return true;
  }
  async remove(connection: string, accessToken: string): Promise<void> {
    this.check();
    if (this.items.get(connection)?.accessToken === accessToken) this.items.delete(connection);
  }
}

export class MemoryLeaseStore implements LeaseStore {
  readonly leases = new Map<string, { owner: string; until: number }>();
  failing = false;
  constructor(private readonly clock: Clock) {}
  async tryAcquire(connection: string, owner: string, durationMs: number): Promise<LeaseResult> {
    if (this.failing) throw new Error('lease store unavailable');
    const lease = this.leases.get(connection);
    const now = this.clock.now();
    if (lease && lease.until >= now && lease.owner !== owner) return { acquired: false };
    this.leases.set(connection, { owner, until: now + durationMs });
    return { acquired: true };
  }
  async release(connection: string, owner: string): Promise<void> {
    if (this.leases.get(connection)?.owner === owner) this.leases.delete(connection);
  }
}

/** Secrets with versions; tracks what a process "knows", like the Secrets Manager adapter. */
export class MemorySecretStore implements SecretStore {
  private current = new Map<string, ClientCredentials>();
  /** What this "process" has read and caches, like the Secrets Manager adapter. */
  private cached = new Map<string, ClientCredentials>();
  /** Versions this "process" held before a newer one. */
  private readonly replaced = new Map<string, Set<string>>();
  reads = 0;
  put(secretId: string, clientId: string, clientSecret: string): ClientCredentials {
    const versionId = `v${this.current.size}-${Math.random().toString(36).slice(2, 8)}`;
    const credentials = { clientId, clientSecret, versionId };
    this.current.set(secretId, credentials);
    return credentials;
  }
  async get(secretId: string, options: Partial<SecretReadOptions> = {}): Promise<ClientCredentials> {
    const cached = this.cached.get(secretId);
    if (cached && !options.refresh) return cached;
    this.reads++;
    const value = this.current.get(secretId);
    if (!value) throw new Error(`no secret ${secretId}`);
    if (cached && cached.versionId !== value.versionId)
      this.replaced.set(secretId, new Set([...(this.replaced.get(secretId) ?? []), cached.versionId]));
    this.cached.set(secretId, value);
    return value;
  }
  knownVersion(secretId: string): string | undefined {
    return this.cached.get(secretId)?.versionId;
  }
  isSuperseded(secretId: string, version: string): boolean {
    return this.replaced.get(secretId)?.has(version) ?? false;
  }
}

type Step = (request: TokenRequest) => Promise<CachedToken> | CachedToken;

/** A provider whose answers a test scripts; by default it mints tokens of `lifetimeMs`. */
export class ScriptedProvider implements TokenProvider {
  readonly requests: TokenRequest[] = [];
  private readonly steps: Step[] = [];
  private counter = 0;
  constructor(
    private readonly clock: Clock,
    private readonly lifetimeMs = 600_000,
  ) {}
  /** Queue one answer (an error is thrown). */
  answer(step: Step | Error): this {
    this.steps.push(
      step instanceof Error
        ? () => {
            throw step;
          }
        : step,
    );
    return this;
  }
  mint(request: TokenRequest, extra: Partial<CachedToken> = {}): CachedToken {
    this.counter++;
    const now = this.clock.now();
    return {
      connection: request.connection,
      accessToken: `access-${this.counter}-${request.credentials.versionId}`,
      tokenType: 'Bearer',
      obtainedAt: now,
      expiresAt: now + this.lifetimeMs,
      secretVersion: request.credentials.versionId,
      ...extra,
    };
  }
  async requestToken(request: TokenRequest): Promise<CachedToken> {
    this.requests.push(request);
    const step = this.steps.shift();
    return step ? step(request) : this.mint(request);
  }
}

/**
 * A signal that never aborts, for calling a port or adapter directly in a test where no request
 * deadline applies (the code under test always hands one down from a request or a run).
 */
export const noDeadline: AbortSignal = new AbortController().signal;

/** Caller records in memory, with the Dynamo adapter's rules (test/support/caller-ports-contract.ts). */
export class MemoryCallerStore implements CallerStore {
  readonly records = new Map<string, CallerRecord>();
  failing = false;
  reads = 0;
  async get(keyId: string): Promise<CallerRecord | undefined> {
    this.reads++;
    if (this.failing) throw new Error('table unavailable');
    return this.records.get(keyId);
  }
  async create(record: CallerRecord): Promise<void> {
    if (this.records.has(record.keyId))
      throw Object.assign(new Error('exists'), { name: 'ConditionalCheckFailedException' });
    this.records.set(record.keyId, record);
  }
  async list(): Promise<CallerRecord[]> {
    return [...this.records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
  async disable(keyId: string, at: string): Promise<boolean> {
    const record = this.records.get(keyId);
    if (!record) return false;
    this.records.set(keyId, { ...record, disabled: true, disabledAt: at });
    return true;
  }
  async update(keyId: string, changes: CallerChanges): Promise<boolean> {
    const record = this.records.get(keyId);
    if (!record || (changes.replacedBy !== undefined && record.replacedBy !== undefined)) return false;
    const { sourceCidrs: _dropped, ...rest } = record;
    const sources =
      changes.sourceCidrs === null
        ? {}
        : {
            ...(record.sourceCidrs ? { sourceCidrs: record.sourceCidrs } : {}),
            ...(changes.sourceCidrs ? { sourceCidrs: [...changes.sourceCidrs] } : {}),
          };
    this.records.set(keyId, {
      ...rest,
      ...sources,
      ...(changes.expiresAt !== undefined ? { expiresAt: changes.expiresAt } : {}),
      ...(changes.replacedBy !== undefined ? { replacedBy: changes.replacedBy } : {}),
    });
    return true;
  }
}

/** Last uses in memory, with the Dynamo adapter's rules; counts writes. */
export class MemoryLastUseStore implements LastUseStore {
  readonly uses = new Map<string, number>();
  writes = 0;
  failing = false;
  async record(keyId: string, at: number): Promise<void> {
    this.writes++;
    if (this.failing) throw new Error('table unavailable');
    if ((this.uses.get(keyId) ?? -1) < at) this.uses.set(keyId, at);
  }
  async list(): Promise<Map<string, number>> {
    return new Map(this.uses);
  }
}

/** An audit trail in memory, with the Dynamo adapter's rules; can be switched off. */
export class MemoryAuditTrail implements AuditTrail, AuditReader {
  readonly records: AuditRecord[] = [];
  failing = false;
  async append(record: AuditRecord): Promise<void> {
    if (this.failing) throw new Error('table unavailable');
    this.records.push(record);
  }
  async query(query: AuditQuery): Promise<{ records: AuditRecord[]; truncated: boolean }> {
    const matching = this.records
      .filter((record) => {
        const at = Date.parse(record.at);
        return (
          at >= query.since &&
          at < query.until &&
          (query.callerKeyId === undefined || record.callerKeyId === query.callerKeyId) &&
          (query.email === undefined || record.email === query.email.toLowerCase())
        );
      })
      .sort((a, b) => `${a.at}#${a.requestId}`.localeCompare(`${b.at}#${b.requestId}`));
    return { records: matching.slice(0, query.limit), truncated: matching.length > query.limit };
  }
}
