import type { Connection } from '../../shared/config/schema';
import {
  ConfigurationError,
  InvalidClientError,
  UnknownConnectionError,
  UpstreamRejectedError,
  UpstreamTokenRejectedError,
  UpstreamUnavailableError,
} from '../../shared/errors';
import { SensitiveValues } from '../../shared/logging/redaction';
import { RefreshingTokenSource } from '../../shared/tokens/refreshing-token-source';
import type { CachedToken } from '../../shared/tokens/token';
import type { TokenSourceDeps } from '../../shared/tokens/token-source';
import {
  ManualClock,
  MemoryLeaseStore,
  MemorySecretStore,
  MemoryTokenCache,
  noDeadline,
  ScriptedProvider,
} from '../support/fakes';

const connections: Record<string, Connection> = {
  astrato: {
    kind: 'astrato-oem',
    baseUrl: 'https://astrato.example',
    secretId: 'sec/astrato',
    embedUrlTemplate: '{baseUrl}/auth/proxy/oem/ticket/{ticketId}/embed',
    redeemUrlTemplate: '{baseUrl}/auth/proxy/oem/ticket/{ticketId}?embed',
    signOutUrl: '{baseUrl}/auth/proxy/0/sign_out',
    requireGroup: false,
    denyEmails: [],
    timeoutMs: 1000,
  },
};
const policy = { hardSkewMs: 30_000, minWindowMs: 120_000 };

function world() {
  const clock = new ManualClock();
  const cache = new MemoryTokenCache(clock);
  const leases = new MemoryLeaseStore(clock);
  const secrets = new MemorySecretStore();
  secrets.put('sec/astrato', 'client', 'secret-one');
  const provider = new ScriptedProvider(clock);
  // One process's token source; the refresher's, which also renews what is due (refreshDue).
  const make = (overrides: Partial<TokenSourceDeps> = {}) =>
    new RefreshingTokenSource({
      connections,
      providers: { astrato: provider },
      cache,
      leases,
      secrets,
      policy,
      clock,
      sleep: clock.sleep,
      random: () => 0.5,
      sensitive: new SensitiveValues(),
      ...overrides,
    });
  return { clock, cache, leases, secrets, provider, make };
}

describe('TokenSource.get', () => {
  it('acquires once, stores in L2, then serves from memory', async () => {
    const { provider, cache, make } = world();
    const source = make();
    const first = await source.get('astrato');
    expect(first.origin).toBe('acquired');
    expect(cache.items.get('astrato')?.accessToken).toBe(first.token.accessToken);
    const second = await source.get('astrato');
    expect(second).toEqual({ token: first.token, origin: 'l1' });
    expect(provider.requests).toHaveLength(1);
  });

  it('a second process (separate memory) reads the token from L2', async () => {
    const { provider, make } = world();
    const first = await make().get('astrato');
    const other = await make().get('astrato');
    expect(other).toEqual({ token: first.token, origin: 'l2' });
    expect(provider.requests).toHaveLength(1);
  });

  it('50 concurrent calls in one process share one acquisition', async () => {
    const { provider, make } = world();
    const source = make();
    const results = await Promise.all(Array.from({ length: 50 }, () => source.get('astrato')));
    expect(provider.requests).toHaveLength(1);
    expect(new Set(results.map((result) => result.token.accessToken)).size).toBe(1);
  });

  it('uses a due-but-usable token without waiting for a refresh', async () => {
    const { clock, provider, make } = world();
    const source = make();
    const { token } = await source.get('astrato');
    clock.advance(500_000); // due at 400 s, usable until 570 s
    const again = await source.get('astrato');
    expect(again.token.accessToken).toBe(token.accessToken);
    expect(again.origin).not.toBe('acquired');
    expect(provider.requests).toHaveLength(1);
  });

  it('acquires a new token once the cached one is no longer usable', async () => {
    const { clock, provider, make } = world();
    const source = make();
    const { token } = await source.get('astrato');
    clock.advance(570_000);
    const next = await source.get('astrato');
    expect(next.origin).toBe('acquired');
    expect(next.token.accessToken).not.toBe(token.accessToken);
    expect(provider.requests).toHaveLength(2);
    expect(provider.requests[1]?.previous?.accessToken).toBe(token.accessToken);
  });

  it('picks up a token renewed by another process once its memory is older than l1MaxAge', async () => {
    const { clock, make } = world();
    const requests = make();
    const refresher = make();
    await requests.get('astrato');
    clock.advance(450_000);
    const renewed = await refresher.refreshDue('astrato');
    expect(renewed.action).toBe('renewed');
    const seen = await requests.get('astrato');
    expect(seen.origin).toBe('l2');
    expect(renewed.action === 'renewed' && seen.token.accessToken).toBe(
      renewed.action === 'renewed' && renewed.token.accessToken,
    );
  });

  it('never caches a failure: the next call tries again', async () => {
    const { provider, make } = world();
    const source = make();
    provider.answer(new UpstreamRejectedError('400 from upstream', { upstreamStatus: 400 }));
    await expect(source.get('astrato')).rejects.toThrow('400 from upstream');
    await expect(source.get('astrato')).resolves.toMatchObject({ origin: 'acquired' });
    expect(provider.requests).toHaveLength(2);
  });

  it('retries a 503 with backoff and honours Retry-After', async () => {
    const { clock, provider, make } = world();
    const sleeps: number[] = [];
    const source = make({
      sleep: async (ms) => {
        sleeps.push(ms);
        await clock.sleep(ms);
      },
    });
    provider.answer(new UpstreamUnavailableError('503', { upstreamStatus: 503, retryAfterMs: 2000 }));
    const result = await source.get('astrato');
    expect(result.origin).toBe('acquired');
    expect(provider.requests).toHaveLength(2);
    expect(sleeps).toEqual([2000]);
  });

  it('refuses an unknown connection', async () => {
    const { make } = world();
    await expect(make().get('nope')).rejects.toBeInstanceOf(UnknownConnectionError);
    await expect(make().get('__proto__')).rejects.toBeInstanceOf(UnknownConnectionError);
  });
});

describe('TokenSource across processes (lease)', () => {
  it('a waiter reads the lease holder’s token instead of calling the token endpoint', async () => {
    const { clock, provider, leases, make } = world();
    leases.leases.set('astrato', { owner: 'other-process', until: clock.now() + 10_000 });
    const waiter = make();
    const pending = waiter.get('astrato');
    // The other process finishes: its token appears in L2 and it releases the lease.
    const holder = make({ ownerId: 'other-process' });
    await new Promise((resolve) => setImmediate(resolve));
    const { token } = await holder.get('astrato');
    const result = await pending;
    expect(result).toEqual({ token, origin: 'waited' });
    expect(provider.requests).toHaveLength(1);
  });

  it('a dead holder’s lease expires and a waiter takes over', async () => {
    const { clock, provider, leases, make } = world();
    leases.leases.set('astrato', { owner: 'crashed-process', until: clock.now() + 10_000 });
    const started = clock.now();
    const result = await make().get('astrato', {
      deadline: { at: clock.now() + 30_000, signal: noDeadline },
    });
    expect(result.origin).toBe('acquired');
    expect(clock.now() - started).toBeGreaterThanOrEqual(10_000);
    expect(provider.requests).toHaveLength(1);
    expect(leases.leases.has('astrato')).toBe(false);
  });

  it('a lease left by this same process (its attempt ended) is taken over at once', async () => {
    const { clock, provider, leases, make } = world();
    const source = make({ ownerId: 'me' });
    leases.leases.set('astrato', { owner: 'me', until: clock.now() + 10_000 });
    const started = clock.now();
    await expect(source.get('astrato')).resolves.toMatchObject({ origin: 'acquired' });
    expect(clock.now()).toBe(started);
    expect(provider.requests).toHaveLength(1);
  });

  it('a waiter whose budget runs out gets upstream_unavailable with a retry hint', async () => {
    const { clock, leases, provider, make } = world();
    leases.leases.set('astrato', { owner: 'slow-process', until: clock.now() + 10_000 });
    const error = await make()
      .get('astrato', { deadline: { at: clock.now() + 1_000, signal: noDeadline } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).retryAfterMs).toBe(1000);
    expect(provider.requests).toHaveLength(0);
  });

  it('the holder releases its lease when the acquisition fails', async () => {
    const { leases, provider, make } = world();
    provider.answer(new UpstreamRejectedError('refused'));
    await expect(make().get('astrato')).rejects.toThrow('refused');
    expect(leases.leases.size).toBe(0);
  });
});

describe('TokenSource degraded (table unavailable)', () => {
  it('still returns a token from upstream, one call per process', async () => {
    const { cache, provider, make } = world();
    cache.failing = true;
    const source = make();
    const results = await Promise.all(Array.from({ length: 20 }, () => source.get('astrato')));
    expect(results.every((result) => result.origin === 'acquired')).toBe(true);
    expect(provider.requests).toHaveLength(1);
    expect((await source.get('astrato')).origin).toBe('l1');
  });

  it('keeps serving a usable in-memory token while the table is down', async () => {
    const { cache, clock, provider, make } = world();
    const source = make();
    await source.get('astrato');
    cache.failing = true;
    clock.advance(60_000); // past l1MaxAge: the table is consulted, and fails
    await expect(source.get('astrato')).resolves.toMatchObject({ origin: 'l1' });
    expect(provider.requests).toHaveLength(1);
  });

  it('while one request re-checks memory against a table that hangs, the others take the token in memory', async () => {
    const { cache, clock, provider, make } = world();
    const source = make();
    const { token } = await source.get('astrato');
    clock.advance(60_000); // past l1MaxAge: the next request re-checks against the table
    let answer: (() => void) | undefined;
    const read = cache.read.bind(cache);
    cache.read = (connection: string) =>
      new Promise((resolve, reject) => {
        answer = () => read(connection).then(resolve, reject);
      });
    let recheckSettled = false;
    const rechecking = source.get('astrato').finally(() => {
      recheckSettled = true;
    });
    const others = await Promise.all(Array.from({ length: 5 }, () => source.get('astrato')));
    // They completed while the re-check is still pending, with the token held in memory.
    expect(others).toEqual(Array(5).fill({ token, origin: 'l1' }));
    expect(answer).toBeDefined();
    expect(recheckSettled).toBe(false);
    answer?.();
    await expect(rechecking).resolves.toMatchObject({ token });
    expect(provider.requests).toHaveLength(1);
  });

  it('a lease store failure degrades to a direct acquisition', async () => {
    const { leases, provider, make } = world();
    leases.failing = true;
    await expect(make().get('astrato')).resolves.toMatchObject({ origin: 'acquired' });
    expect(provider.requests).toHaveLength(1);
  });

  it('each degradation is one log line and one metric naming the store that failed', async () => {
    const { cache, leases, make } = world();
    const lines: string[] = [];
    const counts: string[] = [];
    const record = (message: string) => lines.push(message);
    const log = { debug: record, info() {}, warn: record, error: record };
    const telemetry = { count: (metric: string) => counts.push(metric), timing() {} };

    leases.failing = true;
    await make({ log, telemetry }).get('astrato');
    expect(lines).toEqual(['lease store unavailable (acquire); continuing without it']);
    expect(counts.filter((metric) => metric.endsWith('Degraded'))).toEqual(['LeaseStoreDegraded']);

    lines.length = 0;
    counts.length = 0;
    leases.failing = false;
    cache.failing = true;
    await make({ log, telemetry }).get('astrato');
    expect(lines).toEqual(['token cache unavailable (read); continuing without it']);
    expect(counts.filter((metric) => metric.endsWith('Degraded'))).toEqual(['TokenCacheDegraded']);
  });
});

describe('TokenSource at the end of a deadline (stores that honour the signal, as the SDK does)', () => {
  /** The table's rule the memory fakes leave out: a call on an aborted signal fails (AbortError). */
  const refuseAborted = (signal: AbortSignal | undefined) => {
    if (signal?.aborted) throw Object.assign(new Error('Request aborted'), { name: 'AbortError' });
  };
  class SignalLeaseStore extends MemoryLeaseStore {
    calls = 0;
    override async tryAcquire(connection: string, owner: string, durationMs: number, signal?: AbortSignal) {
      this.calls++;
      refuseAborted(signal);
      return super.tryAcquire(connection, owner, durationMs);
    }
    override async release(connection: string, owner: string, signal?: AbortSignal) {
      refuseAborted(signal);
      return super.release(connection, owner);
    }
  }
  class SignalTokenCache extends MemoryTokenCache {
    override async write(token: CachedToken, signal?: AbortSignal) {
      refuseAborted(signal);
      return super.write(token);
    }
  }

  it('a token acquired as the deadline ends still reaches the table; the heartbeats stop; the lease is given back', async () => {
    const { clock, provider, make } = world();
    const cache = new SignalTokenCache(clock);
    const leases = new SignalLeaseStore(clock);
    const lines: string[] = [];
    const counts: string[] = [];
    const record = (message: string) => lines.push(message);
    const log = { debug: record, info() {}, warn: record, error: record };
    const telemetry = { count: (metric: string) => counts.push(metric), timing() {} };
    const request = new AbortController();
    let beatsAfterDeadline = 0;
    // Heartbeats every 50 ms of real time (a third of the lease, at least 50 ms).
    const tokens = make({ cache, leases, log, telemetry, leaseMs: 150 });
    provider.answer(async (tokenRequest) => {
      // The holder beats while it works ...
      while (leases.calls < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      // ... then the request's deadline passes as the token endpoint answers.
      request.abort(new Error('deadline passed'));
      const beatsThen = leases.calls;
      // Four heartbeat periods: a beat on the aborted signal would fail and count as degradation.
      await new Promise((resolve) => setTimeout(resolve, 200));
      beatsAfterDeadline = leases.calls - beatsThen;
      return provider.mint(tokenRequest);
    });
    const result = await tokens.get('astrato', {
      deadline: { at: clock.now() + 5_000, signal: request.signal },
    });
    expect(result.origin).toBe('acquired');
    expect(beatsAfterDeadline).toBe(0);
    expect(cache.items.get('astrato')?.accessToken).toBe(result.token.accessToken);
    expect(leases.leases.size).toBe(0);
    expect(counts.filter((metric) => metric.endsWith('Degraded'))).toEqual([]);
    expect(lines).toEqual([]);
  });
});

describe('TokenSource invalidation and secrets', () => {
  it('invalidate drops the token from L1 and L2 so the next call renews', async () => {
    const { cache, provider, make } = world();
    const source = make();
    const { token } = await source.get('astrato');
    await source.invalidate('astrato', token);
    expect(cache.items.has('astrato')).toBe(false);
    const next = await source.get('astrato');
    expect(next.origin).toBe('acquired');
    expect(next.token.accessToken).not.toBe(token.accessToken);
    expect(provider.requests).toHaveLength(2);
  });

  it('invalidate leaves a newer token (renewed by someone else) in place', async () => {
    const { cache, clock, provider, make } = world();
    const late = make(); // still holds the old token when its own 401 comes in
    const renewer = make();
    const { token: old } = await late.get('astrato');
    clock.advance(1000);
    // Another process was refused the old token first, and renewed it.
    await renewer.invalidate('astrato', old);
    const { token: fresh } = await renewer.get('astrato');
    // This one's 401 comes in late: it drops only the token it was refused (the table's conditional
    // delete, the store's rule that the contract suite holds the fake and the adapter to)...
    await late.invalidate('astrato', old);
    expect(cache.items.get('astrato')?.accessToken).toBe(fresh.accessToken);
    // ...so its next request takes the newer token from the table instead of acquiring again,
    await expect(late.get('astrato')).resolves.toMatchObject({
      origin: 'l2',
      token: { accessToken: fresh.accessToken },
    });
    // and a late invalidation of the old token leaves the newer one in the renewer's memory too.
    await renewer.invalidate('astrato', old);
    await expect(renewer.get('astrato')).resolves.toMatchObject({
      origin: 'l1',
      token: { accessToken: fresh.accessToken },
    });
    expect(provider.requests).toHaveLength(2);
  });

  it('invalid_client: re-reads the secret once and fails loudly as misconfigured when it did not change', async () => {
    const { provider, secrets, make } = world();
    provider.answer(
      new InvalidClientError('invalid_client', { upstreamStatus: 401, oauthError: 'invalid_client' }),
    );
    const readsBefore = secrets.reads;
    const error = await make()
      .get('astrato')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(provider.requests).toHaveLength(1);
    expect(secrets.reads - readsBefore).toBe(2);
  });

  it('invalid_client after a rotation: retries once with the new secret version', async () => {
    const { provider, secrets, make } = world();
    const source = make();
    const { token } = await source.get('astrato'); // this process now caches secret version one
    await source.invalidate('astrato', token); // the token was refused: the next call acquires
    const rotated = secrets.put('sec/astrato', 'client', 'secret-two');
    provider.answer(new InvalidClientError('invalid_client'));
    const result = await source.get('astrato');
    expect(result.origin).toBe('acquired');
    expect(provider.requests.map((request) => request.credentials.clientSecret)).toEqual([
      'secret-one',
      'secret-one',
      'secret-two',
    ]);
    expect(result.token.secretVersion).toBe(rotated.versionId);
  });

  it('does not use a token minted with an older secret version once the new one is known', async () => {
    const { secrets, provider, make } = world();
    const { token: old } = await make().get('astrato');
    const rotated = secrets.put('sec/astrato', 'client', 'secret-two');
    const source = make();
    await secrets.get('sec/astrato', { refresh: true, signal: noDeadline }); // this process has now seen the new version
    const result = await source.get('astrato');
    expect(result.origin).toBe('acquired');
    expect(result.token.accessToken).not.toBe(old.accessToken);
    expect(result.token.secretVersion).toBe(rotated.versionId);
    expect(provider.requests).toHaveLength(2);
  });
});

describe('TokenSource.refreshDue', () => {
  it('leaves a fresh token alone', async () => {
    const { provider, make } = world();
    await make().get('astrato');
    const outcome = await make().refreshDue('astrato');
    expect(outcome.action).toBe('fresh');
    expect(provider.requests).toHaveLength(1);
  });

  it('renews a due token, passing the old one (its refresh token may be used)', async () => {
    const { clock, provider, make } = world();
    const { token } = await make().get('astrato');
    clock.advance(420_000);
    const outcome = await make().refreshDue('astrato');
    expect(outcome.action).toBe('renewed');
    expect(provider.requests).toHaveLength(2);
    expect(provider.requests[1]?.previous?.accessToken).toBe(token.accessToken);
  });

  it('acquires when there is no token at all', async () => {
    const { provider, make } = world();
    await expect(make().refreshDue('astrato')).resolves.toMatchObject({ action: 'renewed' });
    expect(provider.requests).toHaveLength(1);
  });

  it('renews a fresh token minted with a rotated-out secret once the store holds the new version, reading nothing itself', async () => {
    const { secrets, provider, make } = world();
    await make().get('astrato');
    const rotated = secrets.put('sec/astrato', 'client', 'secret-two');
    const reads = secrets.reads;
    // Until the store reads the secret again (the refresher's store does once its value is older
    // than the rotation check period), a run costs no read and the fresh token stays.
    expect((await make().refreshDue('astrato')).action).toBe('fresh');
    expect(secrets.reads).toBe(reads);
    await secrets.get('sec/astrato', { refresh: true });
    const outcome = await make().refreshDue('astrato');
    expect(outcome.action === 'renewed' && outcome.token.secretVersion).toBe(rotated.versionId);
    expect(provider.requests).toHaveLength(2);
    // The stored token names a version the process saw replaced: no read to find out which is newer.
    expect(secrets.reads).toBe(reads + 1);
  });

  it('reports a failure with the token still on hand, without throwing', async () => {
    const { clock, provider, make } = world();
    const { token } = await make().get('astrato');
    clock.advance(420_000);
    provider.answer(new UpstreamRejectedError('refused'));
    const outcome = await make().refreshDue('astrato');
    expect(outcome).toMatchObject({ action: 'failed', token: { accessToken: token.accessToken } });
  });
});

describe('TokenSource.withToken (the renew-once rule)', () => {
  const refused = () => new UpstreamTokenRejectedError('refused (401)', { upstreamStatus: 401 });
  /** A request's deadline on the world's clock. */
  const deadline = (clock: ManualClock) => ({ at: clock.now() + 5000, signal: noDeadline });

  it('calls with the usable token; when upstream refuses it, drops it, renews it and calls once more', async () => {
    const { cache, clock, provider, make } = world();
    const source = make();
    const first = await source.get('astrato');
    const seen: string[] = [];
    const call = await source.withToken('astrato', deadline(clock), async (token) => {
      seen.push(token.accessToken);
      if (seen.length === 1) throw refused();
      return 'answer';
    });
    expect(seen).toEqual([first.token.accessToken, expect.not.stringMatching(first.token.accessToken)]);
    expect(call).toMatchObject({ value: 'answer', origin: 'acquired', renewed: true });
    expect(call.token.accessToken).toBe(seen[1]);
    // The refused token is gone from the table; the renewed one replaced it.
    expect(cache.items.get('astrato')?.accessToken).toBe(seen[1]);
    expect(provider.requests).toHaveLength(2);
  });

  it('starts from the token the caller holds, and a value it marks refused renews once, never twice', async () => {
    const { clock, provider, make } = world();
    const source = make();
    const first = await source.get('astrato');
    const answers: number[] = [];
    const call = await source.withToken(
      'astrato',
      deadline(clock),
      async () => {
        answers.push(401);
        return { status: 401 };
      },
      { first, refused: (answer) => answer.status === 401 },
    );
    // Refused again after the renewal: returned as it is, with the renewed token.
    expect(answers).toEqual([401, 401]);
    expect(call).toMatchObject({ value: { status: 401 }, renewed: true });
    expect(call.token.accessToken).not.toBe(first.token.accessToken);
    expect(provider.requests).toHaveLength(2);
  });

  it('any other failure is thrown at once: the token is kept, nothing is renewed', async () => {
    const { cache, clock, provider, make } = world();
    const source = make();
    const { token } = await source.get('astrato');
    const failure = new UpstreamUnavailableError('setup answered 503');
    let calls = 0;
    await expect(
      source.withToken('astrato', deadline(clock), async () => {
        calls++;
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(calls).toBe(1);
    expect(cache.items.get('astrato')?.accessToken).toBe(token.accessToken);
    expect(provider.requests).toHaveLength(1);
  });

  it('a token that upstream keeps refusing fails with the second refusal', async () => {
    const { clock, provider, make } = world();
    const source = make();
    let calls = 0;
    await expect(
      source.withToken('astrato', deadline(clock), async () => {
        calls++;
        throw refused();
      }),
    ).rejects.toBeInstanceOf(UpstreamTokenRejectedError);
    expect(calls).toBe(2);
    expect(provider.requests).toHaveLength(2);
  });
});
