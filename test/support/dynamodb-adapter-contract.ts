import { DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createTable, type LocalDynamo } from '../../local/dynamodb';
import { DynamoLeaseStore } from '../../shared/adapters/dynamo-lease-store';
import { DynamoTokenCache } from '../../shared/adapters/dynamo-token-cache';
import { keyOf, TABLE_ATTRIBUTES, tableKeys } from '../../shared/adapters/table';
import type { AuditRecord } from '../../shared/audit/audit-trail';
import { DynamoAuditReader } from '../../shared/audit/dynamo-audit-reader';
import { DynamoAuditTrail } from '../../shared/audit/dynamo-audit-trail';
import type { CallerRecord } from '../../shared/callers/caller';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { DynamoLastUseStore } from '../../shared/callers/dynamo-last-use-store';
import { DynamoStatusStore } from '../../shared/status/status-store';
import type { CachedToken } from '../../shared/tokens/token';
import { describeCallerPortsContract } from './caller-ports-contract';
import { ManualClock, noDeadline } from './fakes';

/**
 * The DynamoDB adapters' contract (token cache, lease, callers, status, and every conditional
 * write they rely on), run against one engine: dynalite, or AWS's DynamoDB Local. The same
 * expectations on both engines are the point; where they differ, the test says so.
 */
export interface Engine {
  readonly name: string;
  start(): Promise<LocalDynamo>;
  /** Whether the engine implements UpdateTimeToLive (dynalite does not). */
  readonly supportsTtl: boolean;
}

const TABLE = 'ticket-broker-contract';

export function describeDynamoAdapters(engine: Engine): void {
  describe(`DynamoDB adapters on ${engine.name}`, () => {
    let dynamo: LocalDynamo;
    let raw: DynamoDBClient;
    let client: DynamoDBDocumentClient;
    let clock: ManualClock;
    let tables = 0;
    let tableName = TABLE;

    beforeAll(async () => {
      dynamo = await engine.start();
      raw = new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 1,
      });
      client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
    }, 180_000);

    afterAll(async () => {
      client?.destroy();
      await dynamo?.stop();
    });

    // A fresh table per test: no test sees another's items.
    beforeEach(async () => {
      tables += 1;
      tableName = `${TABLE}-${tables}`;
      await createTable({ endpoint: dynamo.endpoint, tableName });
      clock = new ManualClock();
    });

    const options = () => ({ client, tableName, clock });
    const token = (overrides: Partial<CachedToken> = {}): CachedToken => ({
      connection: 'oms',
      accessToken: 'access-1',
      tokenType: 'Bearer',
      expiresAt: clock.now() + 300_000,
      obtainedAt: clock.now(),
      secretVersion: 'v1',
      ...overrides,
    });

    describe('token cache', () => {
      it('reads back what it wrote, every field', async () => {
        const cache = new DynamoTokenCache(options());
        const full = token({
          refreshToken: 'refresh-1',
          refreshExpiresAt: clock.now() + 900_000,
          scope: 'a b',
        });
        expect(await cache.read('oms', noDeadline)).toBeUndefined();
        expect(await cache.write(full, noDeadline)).toBe(true);
        expect(await cache.read('oms', noDeadline)).toEqual(full);
        const { Item } = await client.send(
          new GetCommand({ TableName: tableName, Key: keyOf(tableKeys.token('oms')) }),
        );
        // TTL past the last useful moment (the refresh token's), in epoch seconds.
        expect(Item?.[TABLE_ATTRIBUTES.ttl]).toBe(Math.ceil((clock.now() + 900_000) / 1000) + 3600);
      });

      it('never replaces a newer token (conditional put), but replaces an older or expired one', async () => {
        const cache = new DynamoTokenCache(options());
        const first = token();
        expect(await cache.write(first, noDeadline)).toBe(true);
        clock.advance(1000);
        const newer = token({ accessToken: 'access-2' });
        expect(await cache.write(newer, noDeadline)).toBe(true);
        expect(await cache.write(first, noDeadline)).toBe(false); // older: refused
        expect((await cache.read('oms', noDeadline))?.accessToken).toBe('access-2');
        clock.advance(400_000); // access-2 expired
        expect(await cache.read('oms', noDeadline)).toBeUndefined(); // expiry checked on read, not left to TTL
        expect(await cache.write({ ...first, expiresAt: clock.now() + 300_000 }, noDeadline)).toBe(true);
        expect((await cache.read('oms', noDeadline))?.accessToken).toBe('access-1');
      });

      it('removes only the token it was asked to remove (conditional delete)', async () => {
        const cache = new DynamoTokenCache(options());
        await cache.write(token({ accessToken: 'current' }), noDeadline);
        await cache.remove('oms', 'stale', noDeadline); // another token: left alone, no error
        expect((await cache.read('oms', noDeadline))?.accessToken).toBe('current');
        await cache.remove('oms', 'current', noDeadline);
        expect(await cache.read('oms', noDeadline)).toBeUndefined();
        await cache.remove('oms', 'current', noDeadline); // already gone: no error
      });
    });

    describe('lease', () => {
      it('one holder at a time; the same owner may take it again; a lapsed one is taken over', async () => {
        const leases = new DynamoLeaseStore(options());
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
        const leases = new DynamoLeaseStore(options());
        await leases.tryAcquire('oms', 'a', 5000, noDeadline);
        await leases.release('oms', 'b', noDeadline); // not the holder: no effect, no error
        expect(await leases.tryAcquire('oms', 'b', 5000, noDeadline)).toEqual({ acquired: false });
        await leases.release('oms', 'a', noDeadline);
        expect(await leases.tryAcquire('oms', 'b', 5000, noDeadline)).toEqual({ acquired: true });
        await leases.release('nothing-held', 'a', noDeadline); // no lease at all: no error
      });

      it('lets exactly one of many concurrent contenders win', async () => {
        const leases = new DynamoLeaseStore(options());
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => leases.tryAcquire('race', `owner-${i}`, 5000, noDeadline)),
        );
        expect(results.filter((result) => result.acquired)).toHaveLength(1);
      });
    });

    describe('callers', () => {
      const record = (keyId: string, createdAt: string): CallerRecord => ({
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
      });

      it('creates once (conditional put), reads, lists in creation order, disables existing ones only', async () => {
        const store = new DynamoCallerStore({ client, tableName });
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

      it('lists past a page: the scan, then the index query, follow LastEvaluatedKey', async () => {
        const store = new DynamoCallerStore({ client, tableName });
        // Items of over 4 KB (sixteen 256-character group ids): a scan page holds at most 1 MB.
        const groups = 'abcdefghijklmnop'.split('').map((letter) => letter.repeat(256));
        await Promise.all(
          Array.from({ length: 300 }, (_, i) => {
            const base = record(
              `K${String(i).padStart(15, '0')}`,
              new Date(Date.UTC(2026, 10, 22, 10, 0, i)).toISOString(),
            );
            const scope = {
              tickets: false,
              tokens: true,
              allowedGroupIds: groups,
              allowedGroupNames: [],
              allowedEmailDomains: [],
            };
            return store.create({ ...base, scopes: { oms: scope } }, noDeadline);
          }),
        );
        // The test means something only if one scan page does not hold them all.
        const firstPage = await client.send(new ScanCommand({ TableName: tableName }));
        expect(firstPage.LastEvaluatedKey).toBeDefined();
        const listed = await store.list(noDeadline);
        expect(listed).toHaveLength(300);
        expect(listed[299]?.keyId).toBe('K000000000000299');
        // The first list indexed nothing new (the records carry their index keys); the second reads
        // the group index, past a page too.
        const again = await store.list(noDeadline);
        expect(again).toHaveLength(300);
        expect(again[299]?.keyId).toBe('K000000000000299');
      }, 120_000);
    });

    // The ports issue 20 added, with the same expectations as the in-memory fakes (a fresh table each).
    describeCallerPortsContract(engine.name, async () => {
      tables += 1;
      const table = { client, tableName: `${TABLE}-${tables}` };
      await createTable({ endpoint: dynamo.endpoint, tableName: table.tableName });
      return {
        callers: new DynamoCallerStore(table),
        lastUses: new DynamoLastUseStore(table),
        audit: Object.assign(new DynamoAuditReader(table), {
          append: (record: AuditRecord, signal: AbortSignal) =>
            new DynamoAuditTrail(table).append(record, signal),
        }),
      };
    });

    describe('status', () => {
      it('writes and reads the last refresh outcome, overwriting the previous one', async () => {
        const store = new DynamoStatusStore({ client, tableName });
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

    it(`TTL on the ttl attribute: ${engine.supportsTtl ? 'accepted' : 'unknown to this engine (CDK enables it on AWS)'}`, async () => {
      const enable = raw.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: TABLE_ATTRIBUTES.ttl, Enabled: true },
        }),
      );
      if (engine.supportsTtl) await expect(enable).resolves.toBeDefined();
      else await expect(enable).rejects.toThrow();
    });
  });
}
