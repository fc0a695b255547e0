import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { LeaseResult, LeaseStore } from '../tokens/ports';
import {
  type ClockedTable,
  conditionalWrite,
  IF_NEW,
  keyOf,
  TTL_MARGIN_SECONDS,
  tableKeys,
  ttlAt,
} from './table';

/**
 * The acquisition lease (`lease#<connection>`): a conditional put that succeeds when the lease is
 * absent, expired, or held by the same owner (whose earlier attempt is known to have ended).
 */
export class DynamoLeaseStore implements LeaseStore {
  constructor(private readonly options: ClockedTable) {}

  async tryAcquire(
    connection: string,
    owner: string,
    durationMs: number,
    signal: AbortSignal,
  ): Promise<LeaseResult> {
    const now = this.options.clock.now();
    const acquired = await conditionalWrite(
      this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: {
            ...keyOf(tableKeys.lease(connection)),
            owner,
            leaseUntil: now + durationMs,
            ...ttlAt(Math.ceil((now + durationMs) / 1000) + TTL_MARGIN_SECONDS),
          },
          ConditionExpression: `${IF_NEW} OR leaseUntil < :now OR #owner = :owner`,
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': now, ':owner': owner },
        }),
        { abortSignal: signal },
      ),
    );
    return acquired ? { acquired: true } : { acquired: false };
  }

  async release(connection: string, owner: string, signal: AbortSignal): Promise<void> {
    // Refused when another owner took the lease over: it is theirs now.
    await conditionalWrite(
      this.options.client.send(
        new DeleteCommand({
          TableName: this.options.tableName,
          Key: keyOf(tableKeys.lease(connection)),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
        { abortSignal: signal },
      ),
    );
  }
}
