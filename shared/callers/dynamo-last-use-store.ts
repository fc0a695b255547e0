import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite, GROUP_INDEX, groupKeys, tableKeys } from '../adapters/table';
import type { LastUseStore } from './caller';

/**
 * `lastused#<keyId>` items: `lastUsedAt` (epoch ms), in the group index under `lastused` so the
 * operators' `list` reads them all in one query. A separate kind of item from `caller#`, so the API
 * function's role may write these (PutItem on `lastused#*` only) while still unable to write a
 * caller record.
 */
export class DynamoLastUseStore implements LastUseStore {
  constructor(private readonly options: { client: DynamoDBDocumentClient; tableName: string }) {}

  async record(keyId: string, at: number, signal: AbortSignal): Promise<void> {
    // Conditional: an environment whose write arrives late never moves a later use back.
    await conditionalWrite(
      this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: {
            pk: tableKeys.lastUsed(keyId),
            [GROUP_INDEX.partitionKey]: groupKeys.lastUses,
            [GROUP_INDEX.sortKey]: keyId,
            lastUsedAt: at,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR lastUsedAt < :at',
          ExpressionAttributeValues: { ':at': at },
        }),
        { abortSignal: signal },
      ),
    );
  }

  async list(signal: AbortSignal): Promise<Map<string, number>> {
    const uses = new Map<string, number>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(
        new QueryCommand({
          TableName: this.options.tableName,
          IndexName: GROUP_INDEX.name,
          KeyConditionExpression: '#gpk = :group',
          ExpressionAttributeNames: { '#gpk': GROUP_INDEX.partitionKey },
          ExpressionAttributeValues: { ':group': groupKeys.lastUses },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
        { abortSignal: signal },
      );
      for (const item of page.Items ?? []) {
        const keyId = item[GROUP_INDEX.sortKey];
        if (typeof keyId === 'string' && typeof item.lastUsedAt === 'number')
          uses.set(keyId, item.lastUsedAt);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return uses;
  }
}
