import { GetCommand, PutCommand, paginateScan, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  conditionalWrite,
  GROUP_INDEX,
  groupItems,
  groupKeys,
  IF_EXISTS,
  IF_NEW,
  inGroup,
  KEY_PREFIXES,
  keyOf,
  TABLE_ATTRIBUTES,
  tableKeys,
} from '../adapters/table';
import { type CallerChanges, type CallerRecord, type CallerStore, callerRecordSchema } from './caller';
import { DynamoCallerReader } from './dynamo-caller-reader';

/**
 * Marks a table whose caller records are all in the group index. Records written before the index
 * existed (issue 20) are not; the first `list` finds them with one scan and indexes them.
 */
const CALLERS_INDEXED = tableKeys.meta('callers-indexed');

/** Caller records in the broker's table: what the operators' command reads and writes. */
export class DynamoCallerStore extends DynamoCallerReader implements CallerStore {
  async create(record: CallerRecord, signal: AbortSignal): Promise<void> {
    await this.options.client.send(
      new PutCommand({
        TableName: this.options.tableName,
        // In the group index under `caller`, sorted by key id.
        Item: {
          ...keyOf(tableKeys.caller(record.keyId)),
          ...inGroup(groupKeys.callers, record.keyId),
          ...record,
        },
        ConditionExpression: IF_NEW,
      }),
      { abortSignal: signal },
    );
  }

  /**
   * Every caller, oldest first: one query of the group index (the table also holds up to a year of
   * audit records, which a scan would read). The first call on a table from before the index scans
   * once and indexes the older records.
   */
  async list(signal: AbortSignal): Promise<CallerRecord[]> {
    const marker = await this.options.client.send(
      new GetCommand({ TableName: this.options.tableName, Key: keyOf(CALLERS_INDEXED) }),
      { abortSignal: signal },
    );
    const records = marker.Item ? await this.queryIndex(signal) : await this.indexOlderRecords(signal);
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async disable(keyId: string, at: string, signal: AbortSignal): Promise<boolean> {
    return conditionalWrite(
      this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: keyOf(tableKeys.caller(keyId)),
          UpdateExpression: 'SET disabled = :true, disabledAt = :at',
          ConditionExpression: IF_EXISTS,
          ExpressionAttributeValues: { ':true': true, ':at': at },
        }),
        { abortSignal: signal },
      ),
    );
  }

  async update(keyId: string, changes: CallerChanges, signal: AbortSignal): Promise<boolean> {
    const set: string[] = [];
    const remove: string[] = [];
    const values: Record<string, unknown> = {};
    if (changes.expiresAt !== undefined) {
      set.push('expiresAt = :expiresAt');
      values[':expiresAt'] = changes.expiresAt;
    }
    if (changes.replacedBy !== undefined) {
      set.push('replacedBy = :replacedBy');
      values[':replacedBy'] = changes.replacedBy;
    }
    if (changes.sourceCidrs === null) remove.push('sourceCidrs');
    else if (changes.sourceCidrs !== undefined) {
      set.push('sourceCidrs = :sourceCidrs');
      values[':sourceCidrs'] = [...changes.sourceCidrs];
    }
    if (set.length === 0 && remove.length === 0) return (await this.get(keyId, signal)) !== undefined;
    const expression = [
      set.length ? `SET ${set.join(', ')}` : '',
      remove.length ? `REMOVE ${remove.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    return conditionalWrite(
      this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: keyOf(tableKeys.caller(keyId)),
          UpdateExpression: expression,
          // A key is replaced once: a second rotation of the same key is refused, not stacked.
          ConditionExpression:
            changes.replacedBy !== undefined
              ? `${IF_EXISTS} AND attribute_not_exists(replacedBy)`
              : IF_EXISTS,
          ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
        }),
        { abortSignal: signal },
      ),
    );
  }

  private async queryIndex(signal: AbortSignal): Promise<CallerRecord[]> {
    const records: CallerRecord[] = [];
    for await (const item of groupItems(this.options, groupKeys.callers, signal)) {
      const parsed = callerRecordSchema.safeParse(item);
      if (parsed.success) records.push(parsed.data);
    }
    return records;
  }

  /** Once per table: finds caller records by a scan, adds their index keys, then sets the marker. */
  private async indexOlderRecords(signal: AbortSignal): Promise<CallerRecord[]> {
    const records: CallerRecord[] = [];
    const pages = paginateScan(
      { client: this.options.client },
      {
        TableName: this.options.tableName,
        FilterExpression: `begins_with(${TABLE_ATTRIBUTES.partitionKey}, :prefix)`,
        ExpressionAttributeValues: { ':prefix': KEY_PREFIXES.caller },
      },
      { abortSignal: signal },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const parsed = callerRecordSchema.safeParse(item);
        if (parsed.success) records.push(parsed.data);
        const pk = item[TABLE_ATTRIBUTES.partitionKey];
        if (item[GROUP_INDEX.partitionKey] !== undefined || typeof pk !== 'string') continue;
        await conditionalWrite(
          this.options.client.send(
            new UpdateCommand({
              TableName: this.options.tableName,
              Key: keyOf(pk),
              UpdateExpression: 'SET #gpk = :group, #gsk = :keyId',
              ConditionExpression: IF_EXISTS,
              ExpressionAttributeNames: { '#gpk': GROUP_INDEX.partitionKey, '#gsk': GROUP_INDEX.sortKey },
              ExpressionAttributeValues: {
                ':group': groupKeys.callers,
                ':keyId': pk.slice(KEY_PREFIXES.caller.length),
              },
            }),
            { abortSignal: signal },
          ),
        );
      }
    }
    await this.options.client.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: { ...keyOf(CALLERS_INDEXED), at: new Date().toISOString() },
      }),
      { abortSignal: signal },
    );
    return records;
  }
}
