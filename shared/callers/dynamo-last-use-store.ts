import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { GROUP_INDEX, groupKeys } from '../adapters/table';
import type { LastUseStore } from './caller';
import { DynamoLastUseWriter } from './dynamo-last-use-writer';

/** `lastused#` items as the operators' command sees them: written, and listed from the group index. */
export class DynamoLastUseStore extends DynamoLastUseWriter implements LastUseStore {
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
