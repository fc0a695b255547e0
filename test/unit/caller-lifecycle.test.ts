import { AuditRecorder } from '../../shared/audit/audit-trail';
import {
  CallerAdminError,
  createCaller,
  describeCaller,
  parseDuration,
  rotateCaller,
  updateCallerSources,
} from '../../shared/callers/admin';
import { CallerAuthenticator } from '../../shared/callers/authenticator';
import { authorizeSource } from '../../shared/callers/authorization';
import { InvalidCidrError, normalizeCidr, normalizeCidrs } from '../../shared/callers/cidr';
import { LastUseRecorder } from '../../shared/callers/last-use';
import { SourceNetworks } from '../../shared/callers/source-networks';
import { ForbiddenError, UnauthorizedError } from '../../shared/errors';
import type { Log, Telemetry } from '../../shared/logging/ports';
import {
  ManualClock,
  MemoryAuditTrail,
  MemoryCallerStore,
  MemoryLastUseStore,
  noDeadline,
} from '../support/fakes';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The authenticator's record cache: a changed record is seen this much later at most. */
const CACHE_MS = 15_000;

async function newCaller(clock: ManualClock, store: MemoryCallerStore, extra: { expiresInMs?: number } = {}) {
  return createCaller(
    store,
    {
      name: 'Acme analytics',
      connections: ['oms'],
      tokens: true,
      tickets: false,
      sourceCidrs: ['198.51.100.0/24'],
      ...extra,
    },
    { now: new Date(clock.now()), signal: noDeadline },
  );
}

const refusal = (auth: CallerAuthenticator, key: string) =>
  auth.authenticate(`Bearer ${key}`, noDeadline).then(
    () => 'accepted',
    (error: unknown) =>
      error instanceof UnauthorizedError ? `${error.reason}: ${error.message}` : String(error),
  );

describe('expiry (injected clock, no sleeping)', () => {
  it('a key works until its expiry, then gets the same 401 as an unknown key; the reason says expired', async () => {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    const auth = new CallerAuthenticator({ store, clock });
    const { key, record } = await newCaller(clock, store, { expiresInMs: 90 * DAY });
    expect(record.expiresAt).toBe(new Date(clock.now() + 90 * DAY).toISOString());
    expect(await refusal(auth, key)).toBe('accepted');
    clock.advance(90 * DAY - 1);
    expect(await refusal(auth, key)).toBe('accepted');
    clock.advance(1);
    const expired = await auth.authenticate(`Bearer ${key}`, noDeadline).catch((error: unknown) => error);
    expect(expired).toBeInstanceOf(UnauthorizedError);
    expect(expired).toMatchObject({
      reason: 'expired',
      keyId: record.keyId,
      message: 'unknown or invalid caller key',
    });
    // What the caller reads is what an unknown key gets; only the reason (logged) differs.
    const unknown = await auth
      .authenticate(`Bearer tb_${'A'.repeat(16)}_${'A'.repeat(43)}`, noDeadline)
      .catch((error: unknown) => error);
    expect(unknown).toMatchObject({ reason: 'invalid', message: (expired as Error).message });
    expect((unknown as UnauthorizedError).keyId).toBeUndefined();
  });

  it('--expires-in takes whole hours or days, and 0 only where allowed', () => {
    expect(parseDuration('--expires-in', '90d')).toBe(90 * DAY);
    expect(parseDuration('--overlap', '24h')).toBe(24 * HOUR);
    expect(parseDuration('--overlap', '0')).toBe(0);
    for (const bad of ['90', '1.5d', '2w', '-1d', 'd', '10m', ''])
      expect(() => parseDuration('--expires-in', bad)).toThrow(/--expires-in must be whole hours or days/);
  });

  it('create refuses an expiry of 0 or past ten years', async () => {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    await expect(newCaller(clock, store, { expiresInMs: 0 })).rejects.toThrow(
      '--expires-in must be from 1h to 3650d',
    );
    await expect(newCaller(clock, store, { expiresInMs: 3651 * DAY })).rejects.toThrow(CallerAdminError);
    expect(store.records.size).toBe(0);
  });
});

describe('rotation with overlap (injected clock)', () => {
  it('both keys work during the overlap; then only the new one; list says which replaced which', async () => {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    const auth = new CallerAuthenticator({ store, clock });
    const old = await newCaller(clock, store, { expiresInMs: 90 * DAY });
    expect(await refusal(auth, old.key)).toBe('accepted');
    clock.advance(10 * DAY);
    const rotated = await rotateCaller(store, old.record.keyId, { now: new Date(clock.now()) });
    // Same name, scopes and networks; the same 90-day lifetime from now; each names the other.
    expect(rotated.record).toMatchObject({
      name: old.record.name,
      scopes: old.record.scopes,
      sourceCidrs: ['198.51.100.0/24'],
      replaces: old.record.keyId,
      expiresAt: new Date(clock.now() + 90 * DAY).toISOString(),
    });
    expect(rotated.oldExpiresAt).toBe(new Date(clock.now() + DAY).toISOString());
    expect(store.records.get(old.record.keyId)).toMatchObject({ replacedBy: rotated.record.keyId });
    clock.advance(DAY - 1);
    expect([await refusal(auth, old.key), await refusal(auth, rotated.key)]).toEqual([
      'accepted',
      'accepted',
    ]);
    clock.advance(1);
    expect([await refusal(auth, old.key), await refusal(auth, rotated.key)]).toEqual([
      'expired: unknown or invalid caller key',
      'accepted',
    ]);
    const now = new Date(clock.now());
    expect(describeCaller(store.records.get(old.record.keyId) ?? old.record, { now })).toMatchObject({
      state: 'expired',
      replacedBy: rotated.record.keyId,
    });
    expect(describeCaller(rotated.record, { now })).toMatchObject({
      state: 'active',
      replaces: old.record.keyId,
    });
  });

  it('--overlap 0 ends the old key at once (within the 15 s record cache); never later than it already ends', async () => {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    const auth = new CallerAuthenticator({ store, clock });
    const old = await newCaller(clock, store);
    expect(await refusal(auth, old.key)).toBe('accepted');
    await rotateCaller(store, old.record.keyId, { now: new Date(clock.now()), overlapMs: 0 });
    clock.advance(CACHE_MS);
    expect(await refusal(auth, old.key)).toBe('expired: unknown or invalid caller key');

    const soon = await newCaller(clock, store, { expiresInMs: HOUR });
    const { oldExpiresAt } = await rotateCaller(store, soon.record.keyId, {
      now: new Date(clock.now()),
      overlapMs: 7 * DAY,
    });
    expect(oldExpiresAt).toBe(soon.record.expiresAt);
  });

  it('a key is rotated once; a disabled or unknown key is not rotated', async () => {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    const old = await newCaller(clock, store);
    const now = () => new Date(clock.now());
    const { record } = await rotateCaller(store, old.record.keyId, { now: now() });
    await expect(rotateCaller(store, old.record.keyId, { now: now() })).rejects.toThrow(
      `caller ${old.record.keyId} was already replaced by ${record.keyId}: rotate that one`,
    );
    await store.disable(record.keyId, now().toISOString());
    await expect(rotateCaller(store, record.keyId, { now: now() })).rejects.toThrow('is disabled');
    await expect(rotateCaller(store, 'NoSuchKey0000000', { now: now() })).rejects.toThrow(
      'no caller with key id',
    );
    await expect(rotateCaller(store, old.record.keyId, { now: now(), overlapMs: 31 * DAY })).rejects.toThrow(
      '--overlap must be from 0 to 30d',
    );
    expect(store.records.size).toBe(2);
  });
});

describe('source networks', () => {
  it('IPv4: inside the CIDR allowed, outside refused; a bare address is one host', () => {
    expect(normalizeCidrs(['203.0.113.0/24', '192.0.2.10'])).toEqual(['203.0.113.0/24', '192.0.2.10/32']);
    const networks = new SourceNetworks(normalizeCidrs(['203.0.113.0/24', '192.0.2.10']));
    expect(['203.0.113.0', '203.0.113.255', '192.0.2.10'].map((ip) => networks.allows(ip))).toEqual([
      true,
      true,
      true,
    ]);
    expect(
      ['203.0.114.0', '192.0.2.11', '10.0.0.1', 'not-an-ip', ''].map((ip) => networks.allows(ip)),
    ).toEqual([false, false, false, false, false]);
  });

  it('IPv6: inside the CIDR allowed, outside refused; IPv4-mapped IPv6 is read as IPv4', () => {
    expect(normalizeCidrs(['2001:DB8::/32', '198.51.100.0/24'])).toEqual([
      '2001:db8::/32',
      '198.51.100.0/24',
    ]);
    const networks = new SourceNetworks(normalizeCidrs(['2001:DB8::/32', '198.51.100.0/24']));
    expect(networks.allows('2001:db8:ffff::1')).toBe(true);
    expect(networks.allows('2001:db9::1')).toBe(false);
    expect(networks.allows('::1')).toBe(false);
    expect(networks.allows('::ffff:198.51.100.4')).toBe(true);
    expect(networks.allows('::ffff:203.0.113.4')).toBe(false);
  });

  it('a bad CIDR is refused when written, naming it; the record is left as it was', async () => {
    for (const [bad, message] of [
      ['203.0.113.0/33', /prefix length must be a number from 0 to 32/],
      ['2001:db8::/129', /from 0 to 128/],
      ['300.1.1.1/24', /not an IPv4 or IPv6 CIDR/],
      ['203.0.113.0/', /prefix length/],
      ['203.0.113.0/24/8', /not an IPv4 or IPv6 CIDR/],
      ['example.com', /not an IPv4 or IPv6 CIDR/],
      ['0.0.0.0/0', /allows every address/],
      ['::/0', /allows every address/],
    ] as const)
      expect(() => normalizeCidr(bad)).toThrow(message);
    expect(() => normalizeCidrs([])).toThrow(InvalidCidrError);
    expect(() => normalizeCidrs(Array.from({ length: 51 }, (_, i) => `10.0.${i}.0/24`))).toThrow(
      'at most 50',
    );

    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    await expect(
      createCaller(
        store,
        {
          name: 'x',
          connections: ['oms'],
          tokens: true,
          tickets: false,
          sourceCidrs: ['10.0.0.0/8', '10.0.0.0/99'],
        },
        { now: new Date(clock.now()) },
      ),
    ).rejects.toThrow('--source-cidrs: "10.0.0.0/99": the prefix length must be a number from 0 to 32');
    expect(store.records.size).toBe(0);
    const { record } = await newCaller(clock, store);
    await expect(updateCallerSources(store, record.keyId, ['2001:db8::/200'])).rejects.toThrow(
      CallerAdminError,
    );
    expect(store.records.get(record.keyId)?.sourceCidrs).toEqual(['198.51.100.0/24']);
    expect(await updateCallerSources(store, record.keyId, ['2001:db8::/32'])).toEqual(['2001:db8::/32']);
    expect(await updateCallerSources(store, record.keyId, null)).toBeNull();
    expect(store.records.get(record.keyId)?.sourceCidrs).toBeUndefined();
  });

  it('authorizeSource: 403 outside the networks, nothing asked of a caller without them', () => {
    const restricted = {
      keyId: 'K',
      name: 'n',
      scopes: {},
      sourceNetworks: new SourceNetworks(['198.51.100.0/24']),
    };
    expect(() => authorizeSource(restricted, '198.51.100.1')).not.toThrow();
    expect(() => authorizeSource(restricted, '203.0.113.1')).toThrow(ForbiddenError);
    expect(() => authorizeSource(restricted, undefined)).toThrow(ForbiddenError);
    expect(() => authorizeSource({ keyId: 'K', name: 'n', scopes: {} }, '203.0.113.1')).not.toThrow();
  });
});

describe('source networks of a record edited by hand (read back through the authenticator)', () => {
  /** A caller whose stored `sourceCidrs` someone wrote into the table by hand, past the command. */
  async function handEdited(sourceCidrs: string[]) {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    const { key, record } = await newCaller(clock, store);
    store.records.set(record.keyId, { ...record, sourceCidrs });
    const caller = await new CallerAuthenticator({ store, clock }).authenticate(`Bearer ${key}`, noDeadline);
    const from = (ip: string) => {
      try {
        authorizeSource(caller, ip);
        return true;
      } catch (error) {
        if (error instanceof ForbiddenError) return false;
        throw error;
      }
    };
    return from;
  }

  it('a bare address is that one host, not every address', async () => {
    const from = await handEdited(['203.0.113.7']);
    expect(['203.0.113.7', '::ffff:203.0.113.7'].map(from)).toEqual([true, true]);
    expect(['203.0.113.8', '10.0.0.1', '198.51.100.1', '2001:db8::1'].map(from)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    const v6 = await handEdited(['2001:db8::7']);
    expect(['2001:db8::7', '2001:db8::8', '203.0.113.7'].map(v6)).toEqual([true, false, false]);
  });

  it('/0 is refused: every request of the caller is', async () => {
    for (const everything of [['10.0.0.0/0'], ['::/0'], ['198.51.100.0/24', '0.0.0.0/0']]) {
      const from = await handEdited(everything);
      expect(['10.0.0.1', '198.51.100.1', '203.0.113.7', '2001:db8::1'].map(from)).toEqual([
        false,
        false,
        false,
        false,
      ]);
    }
  });

  it('an entry that does not parse refuses every request of the caller', async () => {
    for (const garbage of [
      ['198.51.100.0/24', 'example.com'],
      ['198.51.100.0/24', '198.51.100.0/'],
      ['198.51.100.0/24', '198.51.100.0/8x'],
      ['198.51.100.0/24', '198.51.100.0/33'],
      ['198.51.100.0/24', '1.2.3.4/24/8'],
      ['198.51.100.0/24', ''],
    ]) {
      const from = await handEdited(garbage);
      expect(['198.51.100.1', '10.0.0.1'].map(from)).toEqual([false, false]);
    }
  });
});

describe('source networks parsed once per record read', () => {
  it('the same parsed networks serve every request until the record is read again', async () => {
    const clock = new ManualClock();
    const store = new MemoryCallerStore();
    const { key } = await newCaller(clock, store);
    const auth = new CallerAuthenticator({ store, clock });
    const first = await auth.authenticate(`Bearer ${key}`, noDeadline);
    expect(first.sourceNetworks?.allows('198.51.100.7')).toBe(true);
    clock.advance(CACHE_MS - 1);
    expect((await auth.authenticate(`Bearer ${key}`, noDeadline)).sourceNetworks).toBe(first.sourceNetworks);
    clock.advance(1);
    const reread = await auth.authenticate(`Bearer ${key}`, noDeadline);
    expect(store.reads).toBe(2);
    expect(reread.sourceNetworks).not.toBe(first.sourceNetworks);
  });
});

describe('last use: at most one write per key per interval per environment', () => {
  it('the interval is exactly 5 minutes: no write at 299,999 ms after the last, one at 300,000 ms', async () => {
    const clock = new ManualClock();
    const store = new MemoryLastUseStore();
    const recorder = new LastUseRecorder({ store, clock, log: silent });
    await recorder.touch('KEYA', noDeadline);
    expect(store.writes).toBe(1);
    clock.advance(299_999);
    await recorder.touch('KEYA', noDeadline);
    expect(store.writes).toBe(1);
    clock.advance(1);
    await recorder.touch('KEYA', noDeadline);
    expect(store.writes).toBe(2);
  });

  it('writes on first use, then not again until 5 minutes later, whatever the traffic', async () => {
    const clock = new ManualClock();
    const store = new MemoryLastUseStore();
    const recorder = new LastUseRecorder({ store, clock, log: silent });
    for (let i = 0; i < 1000; i++) {
      await recorder.touch('KEYA', noDeadline);
      clock.advance(250); // four requests a second for about four minutes
    }
    expect(store.writes).toBe(1);
    clock.advance(60_000);
    await recorder.touch('KEYA', noDeadline);
    await recorder.touch('KEYB', noDeadline);
    expect(store.writes).toBe(3);
    expect(await store.list()).toEqual(
      new Map([
        ['KEYA', clock.now()],
        ['KEYB', clock.now()],
      ]),
    );
  });

  it('a failing table is not retried on every request, and never fails the request', async () => {
    const clock = new ManualClock();
    const store = new MemoryLastUseStore();
    const warnings: string[] = [];
    const recorder = new LastUseRecorder({
      store,
      clock,
      log: { ...silent, warn: (message) => warnings.push(message) },
    });
    store.failing = true;
    await recorder.touch('KEYA', noDeadline);
    await recorder.touch('KEYA', noDeadline);
    expect(store.writes).toBe(1);
    expect(warnings).toEqual(['last use of a caller key not recorded']);
  });
});

describe('AuditRecorder', () => {
  it('a record the trail cannot take goes whole into an ERROR line and a metric; the request goes on', async () => {
    const trail = new MemoryAuditTrail();
    const lines: { message: string; attributes: Record<string, unknown> }[] = [];
    const counted: string[] = [];
    const telemetry: Telemetry = { count: (metric) => counted.push(metric), timing() {} };
    const recorder = new AuditRecorder({
      trail,
      log: { ...silent, error: (message, attributes = {}) => lines.push({ message, attributes }) },
      telemetry,
    });
    const record = {
      at: '2026-11-22T10:00:00.000Z',
      requestId: 'r-1',
      action: 'token',
      outcome: 'token_vended',
      callerKeyId: 'KEYA',
      callerName: 'n',
      sourceIp: '203.0.113.1',
      connection: 'oms',
    } as const;
    expect(await recorder.record(record, noDeadline)).toBe(true);
    trail.failing = true;
    expect(await recorder.record(record, noDeadline)).toBe(false);
    expect(trail.records).toEqual([record]);
    expect(lines).toEqual([
      {
        message: 'audit record not stored in the table; this line holds it',
        attributes: expect.objectContaining({ audit: record }),
      },
    ]);
    expect(counted).toEqual(['AuditRecordsNotStored']);
  });
});

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
