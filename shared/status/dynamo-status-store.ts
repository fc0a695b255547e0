import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { keyOf, tableKeys, ttlAt } from '../adapters/table';
import { DynamoStatusReader, type RefreshStatus, type StatusStore } from './status-store';

/** Status items live for a week past their last write; a newer run overwrites them. */
const STATUS_TTL_SECONDS = 7 * 86_400;

/**
 * The `status#` items as the refresher uses them: what the API function reads, plus the write of
 * each run's outcome. A subclass in a module of its own, as `RefreshingTokenSource` is: the API
 * function's bundle carries none of it.
 */
export class DynamoStatusStore extends DynamoStatusReader implements StatusStore {
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
}
