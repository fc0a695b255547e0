import { DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createTable, type LocalDynamo } from '../../local/dynamodb';
import { DynamoLeaseStore } from '../../shared/adapters/dynamo-lease-store';
import { DynamoTokenCache } from '../../shared/adapters/dynamo-token-cache';
import { keyOf, TABLE_ATTRIBUTES, tableKeys } from '../../shared/adapters/table';
import type { AuditRecord } from '../../shared/audit/audit-trail';
import { DynamoAuditReader } from '../../shared/audit/dynamo-audit-reader';
import { DynamoAuditTrail } from '../../shared/audit/dynamo-audit-trail';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { DynamoLastUseStore } from '../../shared/callers/dynamo-last-use-store';
import { DynamoStatusStore } from '../../shared/status/dynamo-status-store';
import { describeCallerPortsContract } from './caller-ports-contract';
import { ManualClock, noDeadline } from './fakes';
import { cachedToken, callerRecord, describeTablePortsContract } from './table-ports-contract';

/**
 * The DynamoDB adapters' contract (token cache, lease, callers, status, and every conditional
 * write they rely on), run against one engine: dynalite, or AWS's DynamoDB Local. The same
 * expectations on both engines are the point; where they differ, the test says so. The ports'
 * own contract (table-ports-contract.ts, caller-ports-contract.ts) is also run against the
 * in-memory fakes; what only DynamoDB has (the TTL attribute, pages of a scan) is tested here.
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

    // What every implementation of the ports must do, the in-memory fakes included.
    describeTablePortsContract(
      () => ({
        clock,
        cache: new DynamoTokenCache(options()),
        leases: new DynamoLeaseStore(options()),
        callers: new DynamoCallerStore({ client, tableName }),
      }),
      () => new DynamoStatusStore({ client, tableName }),
    );

    describe('token cache', () => {
      it("stores a TTL past the last useful moment (the refresh token's), in epoch seconds", async () => {
        const cache = new DynamoTokenCache(options());
        await cache.write(
          cachedToken(clock, { refreshToken: 'refresh-1', refreshExpiresAt: clock.now() + 900_000 }),
          noDeadline,
        );
        const { Item } = await client.send(
          new GetCommand({ TableName: tableName, Key: keyOf(tableKeys.token('oms')) }),
        );
        expect(Item?.[TABLE_ATTRIBUTES.ttl]).toBe(Math.ceil((clock.now() + 900_000) / 1000) + 3600);
      });
    });

    describe('callers', () => {
      const record = callerRecord;

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
