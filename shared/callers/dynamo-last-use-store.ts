import { GROUP_INDEX, groupItems, groupKeys } from '../adapters/table';
import type { LastUseStore } from './caller';
import { DynamoLastUseWriter } from './dynamo-last-use-writer';

/** `lastused#` items as the operators' command sees them: written, and listed from the group index. */
export class DynamoLastUseStore extends DynamoLastUseWriter implements LastUseStore {
  async list(signal: AbortSignal): Promise<Map<string, number>> {
    const uses = new Map<string, number>();
    for await (const item of groupItems(this.options, groupKeys.lastUses, signal)) {
      const keyId = item[GROUP_INDEX.sortKey];
      if (typeof keyId === 'string' && typeof item.lastUsedAt === 'number') uses.set(keyId, item.lastUsedAt);
    }
    return uses;
  }
}
