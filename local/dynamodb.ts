import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  paginateScan,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { GROUP_INDEX, TABLE_ATTRIBUTES } from '../shared/adapters/table';
import { sleep } from '../shared/clock';
import { listenOnLoopback } from './http-kit';

/** dynalite (DynamoDB on LevelDB) listening on 127.0.0.1. */
export interface LocalDynamo {
  /** For the SDK's `endpoint` or `AWS_ENDPOINT_URL_DYNAMODB`, e.g. `http://127.0.0.1:41236`. */
  endpoint: string;
  port: number;
  /** Closes the server, its sockets and the store (LevelDB lock released, so the same `dataDir` can be reopened). */
  stop(): Promise<void>;
}

/** What a benchmark or a test reads off dynalite: the table operations clients asked for. */
export interface OperationCounts {
  /** Requests received per DynamoDB operation (`GetItem`, `PutItem`, ...), since start or the last reset. */
  operations(): Record<string, number>;
  resetOperations(): void;
}

/**
 * Starts dynalite on 127.0.0.1: in memory, or on disk under `dataDir` (created if missing) so
 * state survives a restart. `port` lets a test stop DynamoDB mid-run and bring it back where the
 * clients already point.
 */
export async function startDynamo(
  opts: { port?: number; dataDir?: string } = {},
): Promise<LocalDynamo & OperationCounts> {
  if (opts.dataDir !== undefined) await mkdir(opts.dataDir, { recursive: true });
  // Zero delays: tables are ACTIVE at once, so a local start does not wait half a second per table.
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(opts.dataDir !== undefined ? { path: opts.dataDir } : {}),
  });
  let operations: Record<string, number> = {};
  // Counted beside dynalite's own handler: the SDK names the operation in X-Amz-Target
  // (`DynamoDB_20120810.GetItem`).
  server.on('request', (req: IncomingMessage) => {
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' ? (target.split('.').at(-1) ?? target) : 'unknown';
    operations[operation] = (operations[operation] ?? 0) + 1;
  });
  // dynalite's close() waits for the HTTP server, then closes LevelDB (its lock released).
  const { url, port, stop } = await listenOnLoopback(server, opts.port);
  return {
    endpoint: url,
    port,
    operations: () => ({ ...operations }),
    resetOperations: () => {
      operations = {};
    },
    stop,
  };
}

/**
 * The broker table's definition, from the same layout as the stateful stack's
 * (shared/adapters/table.ts, infra/stateful-stack.ts).
 */
/** The region and credentials every local client uses: the stand-ins check neither. */
export const LOCAL_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

export const TABLE_DEFINITION = {
  AttributeDefinitions: [
    { AttributeName: TABLE_ATTRIBUTES.partitionKey, AttributeType: 'S' as const },
    { AttributeName: GROUP_INDEX.partitionKey, AttributeType: 'S' as const },
    { AttributeName: GROUP_INDEX.sortKey, AttributeType: 'S' as const },
  ],
  KeySchema: [{ AttributeName: TABLE_ATTRIBUTES.partitionKey, KeyType: 'HASH' as const }],
  GlobalSecondaryIndexes: [
    {
      IndexName: GROUP_INDEX.name,
      KeySchema: [
        { AttributeName: GROUP_INDEX.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: GROUP_INDEX.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection: { ProjectionType: 'ALL' as const },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST' as const,
};

/**
 * Creates the broker's single table ({@link TABLE_DEFINITION}: the partition key, on-demand, the
 * group index)
 * unless it exists, and waits until it is ACTIVE. Idempotent, safe to race. A table kept by
 * `--data-dir` from before the group index is rebuilt with it, items kept (dynalite cannot add an
 * index to a table).
 *
 * TTL is not enabled: dynalite does not know `UpdateTimeToLive`. Nothing depends on it, since every
 * read checks expiry itself (docs/design.md, DynamoDB table); the CDK stack enables it on AWS.
 */
export async function createTable(opts: { endpoint: string; tableName: string }): Promise<void> {
  const client = new DynamoDBClient({
    ...LOCAL_AWS,
    endpoint: opts.endpoint,
    maxAttempts: 2,
  });
  try {
    const existing = await describeTable(client, opts.tableName);
    if (existing && !existing.GlobalSecondaryIndexes?.some((index) => index.IndexName === GROUP_INDEX.name)) {
      await rebuildWithIndex(client, opts.tableName);
    } else if (!existing) {
      try {
        await client.send(new CreateTableCommand({ TableName: opts.tableName, ...TABLE_DEFINITION }));
      } catch (error) {
        // Another process created it between our describe and create.
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    }
    await untilActive(client, opts.tableName);
  } finally {
    client.destroy();
  }
}

/** Waits until the table is ACTIVE, or (`undefined`) gone; 10 s at most. */
async function untilStatus(client: DynamoDBClient, tableName: string, wanted: 'ACTIVE' | undefined) {
  // The SDK's waiter polls every 20 s at the least; with dynalite's zero delays a short loop is enough.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = (await describeTable(client, tableName))?.TableStatus;
    if (status === wanted) return;
    if (Date.now() > deadline) {
      throw new Error(
        `table ${tableName} is not ${wanted ?? 'deleted'} after 10 s (status: ${status ?? 'absent'})`,
      );
    }
    await sleep(25);
  }
}

const untilActive = (client: DynamoDBClient, tableName: string) => untilStatus(client, tableName, 'ACTIVE');

/** Copies every item out, recreates the table with today's definition, and puts them back. */
async function rebuildWithIndex(client: DynamoDBClient, tableName: string): Promise<void> {
  const items: Record<string, AttributeValue>[] = [];
  for await (const page of paginateScan({ client }, { TableName: tableName }))
    items.push(...(page.Items ?? []));
  await client.send(new DeleteTableCommand({ TableName: tableName }));
  await untilStatus(client, tableName, undefined);
  await client.send(new CreateTableCommand({ TableName: tableName, ...TABLE_DEFINITION }));
  await untilActive(client, tableName);
  for (const item of items) await client.send(new PutItemCommand({ TableName: tableName, Item: item }));
}

async function describeTable(client: DynamoDBClient, tableName: string) {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}
