import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type BrokerTable, keyOf, tableKeys, ttlAt } from '../adapters/table';

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

/** The `status#` items; each call takes the signal of the work it serves. */
export interface StatusStore {
  write(status: RefreshStatus, signal: AbortSignal): Promise<void>;
  read(connection: string, signal: AbortSignal): Promise<RefreshStatus | undefined>;
}

/** Status items live for a week past their last write; a newer run overwrites them. */
const STATUS_TTL_SECONDS = 7 * 86_400;

export class DynamoStatusStore implements StatusStore {
  constructor(private readonly options: BrokerTable) {}

  async write(status: RefreshStatus, signal: AbortSignal): Promise<void> {
    await this.options.client.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: {
          ...keyOf(tableKeys.status(status.connection)),
          ...status,
          ...ttlAt(Math.ceil(Date.parse(status.at) / 1000) + STATUS_TTL_SECONDS),
        },
      }),
      { abortSignal: signal },
    );
  }

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
