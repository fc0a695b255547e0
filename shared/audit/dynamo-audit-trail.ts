import { randomBytes } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { GROUP_INDEX, groupKeys, tableKeys } from '../adapters/table';
import type {
  AuditAction,
  AuditOutcome,
  AuditQuery,
  AuditReader,
  AuditRecord,
  AuditTrail,
} from './audit-trail';

const DAY_MS = 86_400_000;

/** The UTC day of an instant, as the index groups audit records: `2026-12-02`. */
export function auditDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

const ACTIONS: readonly AuditAction[] = ['ticket', 'token', 'status'];
const OUTCOMES: readonly AuditOutcome[] = ['ticket_issued', 'ticket_failed', 'token_vended', 'forbidden'];

/**
 * Audit records as `audit#<random>` items of the broker table, each with a TTL `retentionDays`
 * after it was written, and in the table's group index under their UTC day (`gpk`
 * `audit#2026-12-02`, `gsk` the time and request id), so that reading a time range is a query per
 * day, never a scan.
 *
 * Appending is a PutItem conditional on the key being new, and the key ends in 128 random bits
 * that are never logged: the functions, which may put `audit#` items but neither read, update nor
 * delete them (IAM), cannot name an existing record, so they cannot overwrite one.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html
 */
export class DynamoAuditTrail implements AuditTrail, AuditReader {
  constructor(
    private readonly options: {
      readonly client: DynamoDBDocumentClient;
      readonly tableName: string;
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
          pk: tableKeys.audit(randomBytes(16).toString('base64url')),
          [GROUP_INDEX.partitionKey]: groupKeys.auditDay(auditDay(at)),
          [GROUP_INDEX.sortKey]: `${record.at}#${record.requestId}`,
          ...record,
          ttl: Math.ceil(at / 1000) + retentionSeconds,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
      { abortSignal: signal },
    );
  }

  async query(
    query: AuditQuery,
    signal: AbortSignal,
  ): Promise<{ records: AuditRecord[]; truncated: boolean }> {
    const records: AuditRecord[] = [];
    const from = new Date(query.since).toISOString();
    // `gsk` is `<ISO time>#<request id>`: every key of an instant before `until` sorts below it.
    const to = new Date(query.until).toISOString();
    const filters: string[] = [];
    const values: Record<string, unknown> = { ':from': from, ':to': to };
    if (query.callerKeyId !== undefined) {
      filters.push('callerKeyId = :caller');
      values[':caller'] = query.callerKeyId;
    }
    if (query.email !== undefined) {
      filters.push('email = :email');
      values[':email'] = query.email.toLowerCase();
    }
    for (let day = Date.parse(auditDay(query.since)); day < query.until; day += DAY_MS) {
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.options.client.send(
          new QueryCommand({
            TableName: this.options.tableName,
            IndexName: GROUP_INDEX.name,
            KeyConditionExpression: '#gpk = :day AND #gsk BETWEEN :from AND :to',
            ExpressionAttributeNames: { '#gpk': GROUP_INDEX.partitionKey, '#gsk': GROUP_INDEX.sortKey },
            ExpressionAttributeValues: { ...values, ':day': groupKeys.auditDay(auditDay(day)) },
            ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
          { abortSignal: signal },
        );
        for (const item of page.Items ?? []) {
          const record = auditRecordOf(item);
          if (!record || Date.parse(record.at) >= query.until) continue;
          if (records.length >= query.limit) return { records, truncated: true };
          records.push(record);
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    }
    return { records, truncated: false };
  }
}

const text = (value: unknown): value is string => typeof value === 'string';
const texts = (value: unknown): value is string[] => Array.isArray(value) && value.every(text);

/** An item read back as a record: only the record's own fields, so nothing else can leak into output. */
function auditRecordOf(item: Record<string, unknown>): AuditRecord | undefined {
  const { at, requestId, action, outcome, callerKeyId, callerName, sourceIp } = item;
  if (!text(at) || !text(requestId) || !text(callerKeyId) || !text(callerName) || !text(sourceIp))
    return undefined;
  if (!ACTIONS.includes(action as AuditAction) || !OUTCOMES.includes(outcome as AuditOutcome))
    return undefined;
  return {
    at,
    requestId,
    action: action as AuditAction,
    outcome: outcome as AuditOutcome,
    callerKeyId,
    callerName,
    sourceIp,
    ...(text(item.connection) ? { connection: item.connection } : {}),
    ...(text(item.email) ? { email: item.email } : {}),
    ...(texts(item.groupIds) ? { groupIds: item.groupIds } : {}),
    ...(texts(item.groupNames) ? { groupNames: item.groupNames } : {}),
    ...(text(item.detail) ? { detail: item.detail } : {}),
    ...(text(item.error) ? { error: item.error as AuditRecord['error'] & string } : {}),
  };
}
