import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
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
 * Creates the broker's single table (partition key `pk`, string; on-demand) unless it exists, and
 * waits until it is ACTIVE. Idempotent, safe to race.
 *
 * TTL is not enabled: dynalite does not know `UpdateTimeToLive`. Nothing depends on it, since every
 * read checks expiry itself (docs/design.md, DynamoDB table); the CDK stack enables it on AWS.
 */
export async function createTable(opts: { endpoint: string; tableName: string }): Promise<void> {
  const client = new DynamoDBClient({
    endpoint: opts.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 2,
  });
  try {
    if (!(await tableStatus(client, opts.tableName))) {
      try {
        await client.send(
          new CreateTableCommand({
            TableName: opts.tableName,
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
      } catch (error) {
        // Another process created it between our describe and create.
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    }
    // The SDK's waiter polls every 20 s at the least; with dynalite's zero delays a short loop is enough.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const status = await tableStatus(client, opts.tableName);
      if (status === 'ACTIVE') return;
      if (Date.now() > deadline) {
        throw new Error(`table ${opts.tableName} is not ACTIVE after 10 s (status: ${status ?? 'absent'})`);
      }
      await sleep(25);
    }
  } finally {
    client.destroy();
  }
}

async function tableStatus(client: DynamoDBClient, tableName: string): Promise<string | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table?.TableStatus ?? 'UNKNOWN';
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}
