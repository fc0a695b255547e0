import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type BrokerTable, keyOf, tableKeys } from '../adapters/table';

/** The outcome of the refresher's last run for one connection (`status#<connection>`). */
export interface RefreshStatus {
  readonly connection: string;
  /** ISO 8601. */
  readonly at: string;
  readonly ok: boolean;
  readonly action: 'fresh' | 'renewed' | 'failed';
  /** A stable code (`upstream_unavailable`, `misconfigured`, `probe_failed`, ...), never a message with data in it. */
  readonly error?: string;
  /**
   * The finer code behind `error`, when there is one (`secrets_unavailable`, `store_unavailable`,
   * `upstream_timeout`, `invalid_client`, ...): which dependency failed, never a message.
   */
  readonly cause?: string;
  /** HTTP status of the probe, when the connection has a `probeUrl`. */
  readonly probeStatus?: number;
}

/** What `/status` needs of the `status#` items: one by connection. */
export interface RefreshStatusReader {
  read(connection: string, signal: AbortSignal): Promise<RefreshStatus | undefined>;
}

/** The `status#` items as the refresher uses them; each call takes the signal of the work it serves. */
export interface StatusStore extends RefreshStatusReader {
  write(status: RefreshStatus, signal: AbortSignal): Promise<void>;
}

/**
 * The API function's half of the `status#` items: it reads them for `/status`; only the refresher
 * writes them (`DynamoStatusStore`, dynamo-status-store.ts, in a module of its own so the API
 * function's bundle carries none of it).
 */
export class DynamoStatusReader implements RefreshStatusReader {
  constructor(protected readonly options: BrokerTable) {}

  async read(connection: string, signal: AbortSignal): Promise<RefreshStatus | undefined> {
    const { Item } = await this.options.client.send(
      new GetCommand({ TableName: this.options.tableName, Key: keyOf(tableKeys.status(connection)) }),
      { abortSignal: signal },
    );
    if (!Item || typeof Item.at !== 'string' || typeof Item.ok !== 'boolean') return undefined;
    return {
      connection,
      at: Item.at,
      ok: Item.ok,
      action: Item.action === 'fresh' || Item.action === 'renewed' ? Item.action : 'failed',
      ...(typeof Item.error === 'string' ? { error: Item.error } : {}),
      ...(typeof Item.cause === 'string' ? { cause: Item.cause } : {}),
      ...(typeof Item.probeStatus === 'number' ? { probeStatus: Item.probeStatus } : {}),
    };
  }
}
