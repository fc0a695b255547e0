import { CallerAuthenticator } from '../../shared/callers/authenticator';
import { generateKey } from '../../shared/callers/keys';
import { CallerLookupThrottledError, UnauthorizedError, UpstreamUnavailableError } from '../../shared/errors';
import { ManualClock, MemoryCallerStore, noDeadline } from '../support/fakes';

function setup() {
  const clock = new ManualClock();
  const store = new MemoryCallerStore();
  const key = generateKey();
  store.records.set(key.keyId, {
    keyId: key.keyId,
    name: 'acme',
    secretHash: key.secretHash,
    scopes: {},
    disabled: false,
    createdAt: new Date(clock.now()).toISOString(),
  });
  return { clock, store, key, auth: new CallerAuthenticator({ store, clock }) };
}

describe('CallerAuthenticator', () => {
  it('caches records for 15 s, then reads again (a disabled key stops within 15 s)', async () => {
    const { clock, store, key, auth } = setup();
    await auth.authenticate(`Bearer ${key.key}`, noDeadline);
    await auth.authenticate(`Bearer ${key.key}`, noDeadline);
    expect(store.reads).toBe(1);
    await store.disable(key.keyId, new Date(clock.now()).toISOString());
    clock.advance(15_000);
    await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).rejects.toThrow(
      new UnauthorizedError('caller key disabled'),
    );
  });

  it('a burst of first requests for one key shares one table read', async () => {
    const { store, key, auth } = setup();
    await Promise.all(Array.from({ length: 50 }, () => auth.authenticate(`Bearer ${key.key}`, noDeadline)));
    expect(store.reads).toBe(1);
  });

  it('caches unknown key ids too, so guessing costs no table reads', async () => {
    const { store, auth } = setup();
    const stranger = generateKey();
    for (let i = 0; i < 5; i++)
      await expect(auth.authenticate(`Bearer ${stranger.key}`, noDeadline)).rejects.toThrow(
        UnauthorizedError,
      );
    expect(store.reads).toBe(1);
  });

  it('while the table is down, a recently seen caller still authenticates', async () => {
    const { clock, store, key, auth } = setup();
    await auth.authenticate(`Bearer ${key.key}`, noDeadline);
    store.failing = true;
    clock.advance(60_000);
    await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).resolves.toMatchObject({
      keyId: key.keyId,
    });
    clock.advance(5 * 60_000);
    await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).rejects.toBeInstanceOf(
      UpstreamUnavailableError,
    );
  });

  describe('a key disabled just before a DynamoDB outage', () => {
    /** The key is read (cached as enabled), disabled in the table, then the table goes away. */
    async function disabledThenOutage(
      auth: CallerAuthenticator,
      store: MemoryCallerStore,
      keyId: string,
      key: string,
    ) {
      await auth.authenticate(`Bearer ${key}`, noDeadline);
      await store.disable(keyId, '2026-11-22T10:00:00.000Z');
      store.failing = true;
    }

    it('works at most 5 minutes after its last read by default, then is refused', async () => {
      const { clock, store, key, auth } = setup();
      await disabledThenOutage(auth, store, key.keyId, key.key);
      clock.advance(5 * 60_000 - 1);
      // Inside the bound the stale record still serves: that is the stated bound, not a bug.
      await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).resolves.toMatchObject({
        keyId: key.keyId,
      });
      clock.advance(1);
      const refused = await auth
        .authenticate(`Bearer ${key.key}`, noDeadline)
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UpstreamUnavailableError);
      expect((refused as UpstreamUnavailableError).retryAfterMs).toBe(1000);
      // And stays refused while the outage lasts.
      clock.advance(60 * 60_000);
      await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).rejects.toBeInstanceOf(
        UpstreamUnavailableError,
      );
    });

    it('honours a configured bound (callers.maxStaleSeconds)', async () => {
      const { clock, store, key } = setup();
      const auth = new CallerAuthenticator({ store, clock, maxStaleMs: 30_000 });
      await disabledThenOutage(auth, store, key.keyId, key.key);
      clock.advance(29_999);
      await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).resolves.toMatchObject({
        keyId: key.keyId,
      });
      clock.advance(1);
      await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).rejects.toBeInstanceOf(
        UpstreamUnavailableError,
      );
    });

    it('is refused as disabled as soon as the table answers again', async () => {
      const { clock, store, key, auth } = setup();
      await disabledThenOutage(auth, store, key.keyId, key.key);
      clock.advance(60_000);
      store.failing = false;
      await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).rejects.toThrow(
        new UnauthorizedError('caller key disabled'),
      );
    });
  });

  it('while the table is down, an unseen caller gets upstream_unavailable (503), not an internal error', async () => {
    const { store, key, auth } = setup();
    store.failing = true;
    const error = await auth.authenticate(`Bearer ${key.key}`, noDeadline).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).retryAfterMs).toBe(1000);
  });
});

describe('CallerAuthenticator: traffic without a valid key', () => {
  it('2,000 unknown keys leave an authenticated caller’s record in place (and the table down, it still serves)', async () => {
    const { clock, store, key } = setup();
    const auth = new CallerAuthenticator({ store, clock, maxEntries: 1000 });
    await auth.authenticate(`Bearer ${key.key}`, noDeadline);
    expect(store.reads).toBe(1);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      // Spread over time as a flood would be, within the record's 15 s.
      if (i % 200 === 0) clock.advance(1000);
      const error = await auth
        .authenticate(`Bearer ${generateKey().key}`, noDeadline)
        .catch((e: unknown) => e);
      const name = (error as Error).name;
      outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
    }
    // Every one refused: unknown (401) or, past the read budget, not looked up at all (503).
    expect([...outcomes.keys()].sort()).toEqual(['CallerLookupThrottledError', 'UnauthorizedError']);
    expect((outcomes.get('UnauthorizedError') ?? 0) + (outcomes.get('CallerLookupThrottledError') ?? 0)).toBe(
      2000,
    );
    // The table reads they caused are bounded by the budget (burst 50 + 10/s over ~10 s), not 2,000.
    expect(store.reads - 1).toBeLessThanOrEqual(50 + 10 * 11);
    // The real caller's record is still held: no read for it, and the table going down changes nothing.
    const reads = store.reads;
    await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).resolves.toMatchObject({
      keyId: key.keyId,
    });
    expect(store.reads).toBe(reads);
    store.failing = true;
    clock.advance(20_000); // past the 15 s cache: a re-read, which fails; the held record serves
    await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).resolves.toMatchObject({
      keyId: key.keyId,
    });
  });

  it('a flood fills only its own cache: the real callers stay, however many unknown keys come', async () => {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    const keys = Array.from({ length: 3 }, () => generateKey());
    for (const k of keys) {
      store.records.set(k.keyId, {
        keyId: k.keyId,
        name: k.keyId,
        secretHash: k.secretHash,
        scopes: {},
        disabled: false,
        createdAt: 'x',
      });
    }
    const auth = new CallerAuthenticator({
      store,
      clock,
      maxEntries: 3,
      maxUnverifiedEntries: 5,
      unverifiedReads: { perSecond: 1000, burst: 1000 },
    });
    for (const k of keys) await auth.authenticate(`Bearer ${k.key}`, noDeadline);
    for (let i = 0; i < 100; i++)
      await auth.authenticate(`Bearer ${generateKey().key}`, noDeadline).catch(() => undefined);
    const reads = store.reads;
    for (const k of keys) await auth.authenticate(`Bearer ${k.key}`, noDeadline);
    expect(store.reads).toBe(reads); // all three still cached: none was evicted by the flood
  });

  it('a real key id with a wrong secret neither evicts nor locks out the real caller', async () => {
    const { store, key, auth } = setup();
    const forged = `tb_${key.keyId}_${generateKey().secret}`;
    await expect(auth.authenticate(`Bearer ${forged}`, noDeadline)).rejects.toBeInstanceOf(UnauthorizedError);
    // The record read for the forged key is remembered apart; the right secret authenticates with it.
    await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).resolves.toMatchObject({
      keyId: key.keyId,
    });
    expect(store.reads).toBe(1);
  });

  it('a verified key id re-read with a wrong secret keeps the re-read record: one read per 15 s, not one per request', async () => {
    const { clock, store, key, auth } = setup();
    await auth.authenticate(`Bearer ${key.key}`, noDeadline);
    expect(store.reads).toBe(1);
    clock.advance(15_000);
    const forged = `tb_${key.keyId}_${generateKey().secret}`;
    for (let i = 0; i < 20; i++) {
      await expect(auth.authenticate(`Bearer ${forged}`, noDeadline)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      clock.advance(100);
    }
    expect(store.reads).toBe(2);
    // The real key is served from the same re-read.
    await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).resolves.toMatchObject({
      keyId: key.keyId,
    });
    expect(store.reads).toBe(2);
  });

  it('a verified key whose record was deleted: refused, and the re-read that found nothing is kept too', async () => {
    const { clock, store, key, auth } = setup();
    await auth.authenticate(`Bearer ${key.key}`, noDeadline);
    store.records.delete(key.keyId);
    clock.advance(15_000);
    for (let i = 0; i < 20; i++)
      await expect(auth.authenticate(`Bearer ${key.key}`, noDeadline)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
    expect(store.reads).toBe(2);
  });

  it('past the read budget an unverified key gets 503 with Retry-After, never a read', async () => {
    const { clock, store } = setup();
    const auth = new CallerAuthenticator({ store, clock, unverifiedReads: { perSecond: 1, burst: 2 } });
    for (let i = 0; i < 2; i++)
      await expect(auth.authenticate(`Bearer ${generateKey().key}`, noDeadline)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
    const refused = await auth
      .authenticate(`Bearer ${generateKey().key}`, noDeadline)
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CallerLookupThrottledError);
    expect((refused as CallerLookupThrottledError).retryAfterMs).toBe(1000);
    expect(store.reads).toBe(2);
    clock.advance(1000); // one more read earned
    await expect(auth.authenticate(`Bearer ${generateKey().key}`, noDeadline)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(store.reads).toBe(3);
  });
});

describe('CallerAuthenticator: a re-read that hangs', () => {
  it('while one request waits on the re-read, the others go on with the held record', async () => {
    const { clock, store, key, auth } = setup();
    await auth.authenticate(`Bearer ${key.key}`, noDeadline);
    clock.advance(16_000);
    let answer: (() => void) | undefined;
    const original = store.get.bind(store);
    store.get = (keyId: string) =>
      new Promise((resolve) => {
        answer = () => resolve(original(keyId));
      });
    const prober = auth.authenticate(`Bearer ${key.key}`, noDeadline);
    const others = await Promise.all(
      Array.from({ length: 5 }, () => auth.authenticate(`Bearer ${key.key}`, noDeadline)),
    );
    // They completed while the probe is still pending.
    expect(others.map((caller) => caller.keyId)).toEqual(Array(5).fill(key.keyId));
    expect(answer).toBeDefined();
    answer?.();
    await expect(prober).resolves.toMatchObject({ keyId: key.keyId });
  });
});
