import type { CallerRecord, CallerStore } from '../../shared/callers/caller';
import type { StatusStore } from '../../shared/status/status-store';
import type { LeaseStore, TokenCache } from '../../shared/tokens/ports';
import type { CachedToken } from '../../shared/tokens/token';
import { type ManualClock, noDeadline } from './fakes';

/** One implementation of the table's ports, fresh and empty, with the clock it judges expiry by. */
export interface TablePorts {
  readonly clock: ManualClock;
  readonly cache: TokenCache;
  readonly leases: LeaseStore;
  readonly callers: CallerStore;
}

/** An `oms` token obtained now on `clock`, usable for 5 minutes. */
export function cachedToken(clock: ManualClock, overrides: Partial<CachedToken> = {}): CachedToken {
  return {
    connection: 'oms',
    accessToken: 'access-1',
    tokenType: 'Bearer',
    expiresAt: clock.now() + 300_000,
    obtainedAt: clock.now(),
    secretVersion: 'v1',
    ...overrides,
  };
}

/** A caller with a tokens scope on `oms`, created at `createdAt`. */
export function callerRecord(keyId: string, createdAt: string): CallerRecord {
  return {
    keyId,
    name: `caller ${keyId}`,
    secretHash: 'ab'.repeat(32),
    scopes: {
      oms: {
        tickets: false,
        tokens: true,
        allowedGroupIds: [],
        allowedGroupNames: [],
        allowedEmailDomains: [],
      },
    },
    disabled: false,
    createdAt,
  };
}

/**
 * A caller record with a tickets scope on `astrato` as the callers command wrote it before an email
 * decision was required: no `anyEmail` at all, so it is open to any email, undecided.
 */
export function legacyTicketsCaller(keyId: string, name: string): CallerRecord {
  return {
    keyId,
    name,
    secretHash: '0'.repeat(64),
    scopes: {
      astrato: {
        tickets: true,
        tokens: false,
        allowedGroupIds: [],
        allowedGroupNames: [],
        allowedEmailDomains: [],
      },
    },
    disabled: false,
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

/**
 * The contract of the token cache, the lease, the caller store and the status store, every
 * conditional write included, run against the DynamoDB adapters (on dynalite and DynamoDB Local)
 * and against the in-memory fakes the unit tests use: a fake whose rules differed from the
 * adapter's would fail here, so the unit tests that rely on those rules stay evidence. Called
 * inside a describe of the implementation, so each part is a describe of its own.
 */
export function describeTablePortsContract(
  make: () => TablePorts,
  /** The status store, where the implementation has one: the unit tests have no fake of it. */
  makeStatus?: () => StatusStore,
): void {
  const token = cachedToken;

  describe('token cache', () => {
    it('reads back what it wrote, every field', async () => {
      const { cache, clock } = make();
      const full = token(clock, {
        refreshToken: 'refresh-1',
        refreshExpiresAt: clock.now() + 900_000,
        scope: 'a b',
      });
      expect(await cache.read('oms', noDeadline)).toBeUndefined();
      expect(await cache.write(full, noDeadline)).toBe(true);
      expect(await cache.read('oms', noDeadline)).toEqual(full);
      // Still of use while its refresh token is: the access token's expiry alone does not drop it.
      clock.advance(400_000);
      expect((await cache.read('oms', noDeadline))?.refreshToken).toBe('refresh-1');
      clock.advance(500_000);
      expect(await cache.read('oms', noDeadline)).toBeUndefined();
    });

    it('never replaces a newer token (conditional put), but replaces an older or expired one', async () => {
      const { cache, clock } = make();
      const first = token(clock);
      expect(await cache.write(first, noDeadline)).toBe(true);
      clock.advance(1000);
      const newer = token(clock, { accessToken: 'access-2' });
      expect(await cache.write(newer, noDeadline)).toBe(true);
      expect(await cache.write(first, noDeadline)).toBe(false); // older: refused
      expect((await cache.read('oms', noDeadline))?.accessToken).toBe('access-2');
      clock.advance(400_000); // access-2 expired
      expect(await cache.read('oms', noDeadline)).toBeUndefined(); // expiry checked on read, not left to TTL
      expect(await cache.write({ ...first, expiresAt: clock.now() + 300_000 }, noDeadline)).toBe(true);
      expect((await cache.read('oms', noDeadline))?.accessToken).toBe('access-1');
    });

    it('removes only the token it was asked to remove (conditional delete)', async () => {
      const { cache, clock } = make();
      await cache.write(token(clock, { accessToken: 'current' }), noDeadline);
      await cache.remove('oms', 'stale', noDeadline); // another token: left alone, no error
      expect((await cache.read('oms', noDeadline))?.accessToken).toBe('current');
      await cache.remove('oms', 'current', noDeadline);
      expect(await cache.read('oms', noDeadline)).toBeUndefined();
      await cache.remove('oms', 'current', noDeadline); // already gone: no error
    });
  });

  describe('lease', () => {
    it('one holder at a time; the same owner may take it again; a lapsed one is taken over', async () => {
      const { leases, clock } = make();
      expect(await leases.tryAcquire('oms', 'a', 5000, noDeadline)).toEqual({ acquired: true });
      expect(await leases.tryAcquire('oms', 'b', 5000, noDeadline)).toEqual({ acquired: false });
      expect(await leases.tryAcquire('oms', 'a', 5000, noDeadline)).toEqual({ acquired: true }); // heartbeat
      clock.advance(4999);
      expect(await leases.tryAcquire('oms', 'b', 5000, noDeadline)).toEqual({ acquired: false });
      clock.advance(2);
      expect(await leases.tryAcquire('oms', 'b', 5000, noDeadline)).toEqual({ acquired: true }); // lapsed
      expect(await leases.tryAcquire('oms', 'a', 5000, noDeadline)).toEqual({ acquired: false });
    });

    it('is released by its holder only (conditional delete)', async () => {
      const { leases } = make();
      await leases.tryAcquire('oms', 'a', 5000, noDeadline);
      await leases.release('oms', 'b', noDeadline); // not the holder: no effect, no error
      expect(await leases.tryAcquire('oms', 'b', 5000, noDeadline)).toEqual({ acquired: false });
      await leases.release('oms', 'a', noDeadline);
      expect(await leases.tryAcquire('oms', 'b', 5000, noDeadline)).toEqual({ acquired: true });
      await leases.release('nothing-held', 'a', noDeadline); // no lease at all: no error
    });

    it('lets exactly one of many concurrent contenders win', async () => {
      const { leases } = make();
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => leases.tryAcquire('race', `owner-${i}`, 5000, noDeadline)),
      );
      expect(results.filter((result) => result.acquired)).toHaveLength(1);
    });
  });

  describe('callers', () => {
    const record = callerRecord;

    it('creates once (conditional put), reads, lists in creation order, disables existing ones only', async () => {
      const { callers: store } = make();
      await store.create(record('KEYB0000000000001', '2026-11-22T10:00:01Z'), noDeadline);
      await store.create(record('KEYA0000000000001', '2026-11-22T10:00:00Z'), noDeadline);
      await expect(
        store.create(record('KEYA0000000000001', '2026-11-22T11:00:00Z'), noDeadline),
      ).rejects.toMatchObject({
        name: 'ConditionalCheckFailedException',
      });
      expect(await store.get('KEYA0000000000001', noDeadline)).toEqual(
        record('KEYA0000000000001', '2026-11-22T10:00:00Z'),
      );
      expect(await store.get('NOSUCHKEY0000000', noDeadline)).toBeUndefined();
      expect((await store.list(noDeadline)).map((caller) => caller.keyId)).toEqual([
        'KEYA0000000000001',
        'KEYB0000000000001',
      ]);
      expect(await store.disable('KEYA0000000000001', '2026-11-22T12:00:00Z', noDeadline)).toBe(true);
      expect(await store.get('KEYA0000000000001', noDeadline)).toMatchObject({
        disabled: true,
        disabledAt: '2026-11-22T12:00:00Z',
      });
      expect(await store.disable('NOSUCHKEY0000000', '2026-11-22T12:00:00Z', noDeadline)).toBe(false);
      expect(await store.get('NOSUCHKEY0000000', noDeadline)).toBeUndefined(); // the failed update created nothing
    });
  });

  if (!makeStatus) return;
  describe('status', () => {
    it('writes and reads the last refresh outcome, overwriting the previous one', async () => {
      const store = makeStatus();
      expect(await store.read('oms', noDeadline)).toBeUndefined();
      await store.write(
        {
          connection: 'oms',
          at: '2026-11-22T10:00:00.000Z',
          ok: false,
          action: 'failed',
          error: 'probe_failed',
          probeStatus: 404,
        },
        noDeadline,
      );
      await store.write(
        {
          connection: 'oms',
          at: '2026-11-22T10:01:00.000Z',
          ok: true,
          action: 'renewed',
          probeStatus: 200,
        },
        noDeadline,
      );
      expect(await store.read('oms', noDeadline)).toEqual({
        connection: 'oms',
        at: '2026-11-22T10:01:00.000Z',
        ok: true,
        action: 'renewed',
        probeStatus: 200,
      });
    });
  });
}
