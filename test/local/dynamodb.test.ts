import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { createTable, type LocalDynamo, startDynamo } from '../../local/dynamodb';
import { GROUP_INDEX } from '../../shared/adapters/table';

const TABLE = 'ticket-broker-test';

function documentClient(endpoint: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
  );
}

describe('local DynamoDB (dynalite)', () => {
  const started: LocalDynamo[] = [];
  const clients: DynamoDBDocumentClient[] = [];
  const dirs: string[] = [];

  const start = async (opts?: { port?: number; dataDir?: string }) => {
    const dynamo = await startDynamo(opts);
    started.push(dynamo);
    return dynamo;
  };
  const client = (endpoint: string) => {
    const c = documentClient(endpoint);
    clients.push(c);
    return c;
  };

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(started.map((d) => d.stop()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('creates the table idempotently, stores and reads an item, then stops listening', async () => {
    const dynamo = await start();
    expect(dynamo.endpoint).toBe(`http://127.0.0.1:${dynamo.port}`);
    await createTable({ endpoint: dynamo.endpoint, tableName: TABLE });
    await createTable({ endpoint: dynamo.endpoint, tableName: TABLE });
    await Promise.all([
      createTable({ endpoint: dynamo.endpoint, tableName: 'raced' }),
      createTable({ endpoint: dynamo.endpoint, tableName: 'raced' }),
    ]);

    const db = client(dynamo.endpoint);
    const tables = await db.send(new ListTablesCommand({}));
    expect(tables.TableNames).toEqual(['raced', TABLE]);

    await db.send(new PutCommand({ TableName: TABLE, Item: { pk: 'token#astrato', expiresAt: 1234 } }));
    const { Item } = await db.send(
      new GetCommand({ TableName: TABLE, Key: { pk: 'token#astrato' }, ConsistentRead: true }),
    );
    expect(Item).toEqual({ pk: 'token#astrato', expiresAt: 1234 });
    // What the clients asked for, by operation (benchmarks count table operations this way).
    expect(dynamo.operations()).toMatchObject({ ListTables: 1, PutItem: 1, GetItem: 1 });
    dynamo.resetOperations();
    await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'token#astrato' } }));
    expect(dynamo.operations()).toEqual({ GetItem: 1 });

    await dynamo.stop();
    await expect(fetch(dynamo.endpoint)).rejects.toThrow();
  });

  it('restarts on the same port, and a client made before the stop works again', async () => {
    const first = await start();
    await createTable({ endpoint: first.endpoint, tableName: TABLE });
    const db = client(first.endpoint);
    await db.send(new PutCommand({ TableName: TABLE, Item: { pk: 'before' } }));

    await first.stop();
    await expect(db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'before' } }))).rejects.toThrow();

    const second = await start({ port: first.port });
    expect(second.endpoint).toBe(first.endpoint);
    await createTable({ endpoint: second.endpoint, tableName: TABLE });
    // In memory: the restart starts empty.
    expect((await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'before' } }))).Item).toBeUndefined();
    await db.send(new PutCommand({ TableName: TABLE, Item: { pk: 'after' } }));
    expect((await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'after' } }))).Item).toEqual({
      pk: 'after',
    });
  });

  it('keeps tables and items across a restart when given a dataDir', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ticket-broker-dynalite-'));
    dirs.push(dataDir);
    const first = await start({ dataDir: join(dataDir, 'db') });
    await createTable({ endpoint: first.endpoint, tableName: TABLE });
    const before = client(first.endpoint);
    await before.send(new PutCommand({ TableName: TABLE, Item: { pk: 'caller#k1', name: 'demo' } }));
    await first.stop();

    const second = await start({ dataDir: join(dataDir, 'db') });
    const after = client(second.endpoint);
    await createTable({ endpoint: second.endpoint, tableName: TABLE });
    const { Item } = await after.send(new GetCommand({ TableName: TABLE, Key: { pk: 'caller#k1' } }));
    expect(Item).toEqual({ pk: 'caller#k1', name: 'demo' });
  });

  it('rebuilds a table kept from before the group index with the index, every item kept', async () => {
    const dynamo = await start();
    const db = client(dynamo.endpoint);
    // A `--data-dir` table as an older version created it: the partition key and nothing else.
    await db.send(
      new CreateTableCommand({
        TableName: 'older',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // Over 1 MB of items, so that copying them out takes more than one scan page.
    const padding = 'x'.repeat(200_000);
    const pks = Array.from({ length: 8 }, (_, i) => `caller#k${i}`);
    for (const pk of pks) await db.send(new PutCommand({ TableName: 'older', Item: { pk, padding } }));
    await db.send(
      new PutCommand({ TableName: 'older', Item: { pk: 'lastused#k0', gpk: 'lastused', gsk: 'k0' } }),
    );

    await createTable({ endpoint: dynamo.endpoint, tableName: 'older' });

    const { Table } = await db.send(new DescribeTableCommand({ TableName: 'older' }));
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual([GROUP_INDEX.name]);
    for (const pk of pks) {
      const { Item } = await db.send(new GetCommand({ TableName: 'older', Key: { pk } }));
      expect(Item).toEqual({ pk, padding });
    }
    const indexed = await db.send(
      new QueryCommand({
        TableName: 'older',
        IndexName: GROUP_INDEX.name,
        KeyConditionExpression: 'gpk = :group',
        ExpressionAttributeValues: { ':group': 'lastused' },
      }),
    );
    expect(indexed.Items).toEqual([{ pk: 'lastused#k0', gpk: 'lastused', gsk: 'k0' }]);
  });
});
