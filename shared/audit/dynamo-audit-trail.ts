import { randomBytes } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { type BrokerTable, groupKeys, IF_NEW, inGroup, keyOf, tableKeys, ttlAt } from '../adapters/table';
import type { AuditRecord, AuditTrail } from './audit-trail';

/** The UTC day of an instant, as the index groups audit records: `2026-12-02`. */
export function auditDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/**
 * Appends audit records as `audit#<random>` items of the broker table, each with a TTL
 * `retentionDays` after it was written, and in the table's group index under their UTC day (`gpk`
 * `audit#2026-12-02`, `gsk` the time and request id), so that reading a time range is a query per
 * day, never a scan (`DynamoAuditReader`, in a module of its own: the function's bundle carries no
 * reading code).
 *
 * Appending is a PutItem conditional on the key being new, and the key ends in 128 random bits
 * that are never logged: the functions, which may put `audit#` items but neither read, update nor
 * delete them (IAM), cannot name an existing record, so they cannot overwrite one.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html
 */
export class DynamoAuditTrail implements AuditTrail {
  constructor(
    private readonly options: BrokerTable & {
      /** @default 365 */
      readonly retentionDays?: number;
    },
  ) {}

  async append(record: AuditRecord, signal: AbortSignal): Promise<void> {
    const at = Date.parse(record.at);
    const retentionSeconds = (this.options.retentionDays ?? 365) * 86_400;
    await this.options.client.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: {
          ...keyOf(tableKeys.audit(randomBytes(16).toString('base64url'))),
          ...inGroup(groupKeys.auditDay(auditDay(at)), `${record.at}#${record.requestId}`),
          ...record,
          ...ttlAt(Math.ceil(at / 1000) + retentionSeconds),
        },
        ConditionExpression: IF_NEW,
      }),
      { abortSignal: signal },
    );
  }
}
