import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type BrokerTable, keyOf, tableKeys } from '../adapters/table';
import { type CallerReader, type CallerRecord, callerRecordSchema } from './caller';

/**
 * Reads caller records (`caller#<keyId>` items): all the API function needs. Its own module, so the
 * function's bundle carries none of the operators' listing, indexing and update code.
 */
export class DynamoCallerReader implements CallerReader {
  constructor(protected readonly options: BrokerTable) {}

  async get(keyId: string, signal: AbortSignal): Promise<CallerRecord | undefined> {
    const { Item } = await this.options.client.send(
      new GetCommand({ TableName: this.options.tableName, Key: keyOf(tableKeys.caller(keyId)) }),
      { abortSignal: signal },
    );
    if (!Item) return undefined;
    const parsed = callerRecordSchema.safeParse(Item);
    // A malformed record authenticates nobody.
    return parsed.success ? parsed.data : undefined;
  }
}
