import { PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  type BrokerTable,
  conditionalWrite,
  groupKeys,
  IF_NEW,
  inGroup,
  keyOf,
  tableKeys,
} from '../adapters/table';
import type { LastUseWriter } from './caller';

/**
 * Writes `lastused#<keyId>` items: `lastUsedAt` (epoch ms), in the group index under `lastused` so
 * the operators' `list` reads them all in one query. A separate kind of item from `caller#`, so the
 * API function's role may put these (PutItem on `lastused#*` only) while still unable to write a
 * caller record. Its own module: the function's bundle carries no listing code.
 */
export class DynamoLastUseWriter implements LastUseWriter {
  constructor(protected readonly options: BrokerTable) {}

  async record(keyId: string, at: number, signal: AbortSignal): Promise<void> {
    // Conditional: an environment whose write arrives late never moves a later use back.
    await conditionalWrite(
      this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: {
            ...keyOf(tableKeys.lastUsed(keyId)),
            ...inGroup(groupKeys.lastUses, keyId),
            lastUsedAt: at,
          },
          ConditionExpression: `${IF_NEW} OR lastUsedAt < :at`,
          ExpressionAttributeValues: { ':at': at },
        }),
        { abortSignal: signal },
      ),
    );
  }
}
