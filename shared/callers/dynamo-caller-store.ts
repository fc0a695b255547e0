import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { conditionalWrite, tableKeys } from '../adapters/table';
import { type CallerRecord, type CallerStore, callerRecordSchema } from './caller';

const CALLER_PREFIX = 'caller#';

/** Caller records in the broker's table. */
export class DynamoCallerStore implements CallerStore {
  constructor(private readonly options: { client: DynamoDBDocumentClient; tableName: string }) {}

  async get(keyId: string, signal: AbortSignal): Promise<CallerRecord | undefined> {
    const { Item } = await this.options.client.send(
      new GetCommand({ TableName: this.options.tableName, Key: { pk: tableKeys.caller(keyId) } }),
      { abortSignal: signal },
    );
    if (!Item) return undefined;
    const parsed = callerRecordSchema.safeParse(Item);
    // A malformed record authenticates nobody.
    return parsed.success ? parsed.data : undefined;
  }

  async create(record: CallerRecord, signal: AbortSignal): Promise<void> {
    await this.options.client.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: { pk: tableKeys.caller(record.keyId), ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
      { abortSignal: signal },
    );
  }

  async list(signal: AbortSignal): Promise<CallerRecord[]> {
    const records: CallerRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(
        new ScanCommand({
          TableName: this.options.tableName,
          FilterExpression: 'begins_with(pk, :prefix)',
          ExpressionAttributeValues: { ':prefix': CALLER_PREFIX },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
        { abortSignal: signal },
      );
      for (const item of page.Items ?? []) {
        const parsed = callerRecordSchema.safeParse(item);
        if (parsed.success) records.push(parsed.data);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async disable(keyId: string, at: string, signal: AbortSignal): Promise<boolean> {
    return conditionalWrite(
      this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { pk: tableKeys.caller(keyId) },
          UpdateExpression: 'SET disabled = :true, disabledAt = :at',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':true': true, ':at': at },
        }),
        { abortSignal: signal },
      ),
    );
  }
}
