import { CallerAuthenticator } from '../../shared/callers/authenticator';
import type { CallerRecord, CallerStore } from '../../shared/callers/caller';
import { generateKey } from '../../shared/callers/keys';
import { UnauthorizedError, UpstreamUnavailableError } from '../../shared/errors';
import { ManualClock, noDeadline } from '../support/fakes';

class MemoryCallerStore implements CallerStore {
  readonly records = new Map<string, CallerRecord>();
  failing = false;
  reads = 0;
  async get(keyId: string) {
    this.reads++;
    if (this.failing) throw new Error('table unavailable');
    return this.records.get(keyId);
  }
  async create(record: CallerRecord) {
    this.records.set(record.keyId, record);
  }
  async list() {
    return [...this.records.values()];
  }
  async disable(keyId: string) {
    const record = this.records.get(keyId);
    if (!record) return false;
    this.records.set(keyId, { ...record, disabled: true });
    return true;
  }
}

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
    await store.disable(key.keyId);
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
      await store.disable(keyId);
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
