import { type BrokerTable, groupItems, groupKeys } from '../adapters/table';
import type { AuditAction, AuditOutcome, AuditQuery, AuditReader, AuditRecord } from './audit-trail';
import { auditDay } from './dynamo-audit-trail';

const DAY_MS = 86_400_000;
const ACTIONS: readonly AuditAction[] = ['ticket', 'token', 'status'];
const OUTCOMES: readonly AuditOutcome[] = ['ticket_issued', 'ticket_failed', 'token_vended', 'forbidden'];

/**
 * Reads the audit trail for the operators' command: one Query of the table's group index per UTC
 * day of the range (`gpk` `audit#<day>`, `gsk` between the range's ends), filtered by caller and
 * email, oldest first. Never a scan of the table.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.html
 */
export class DynamoAuditReader implements AuditReader {
  constructor(private readonly options: BrokerTable) {}

  async query(
    query: AuditQuery,
    signal: AbortSignal,
  ): Promise<{ records: AuditRecord[]; truncated: boolean }> {
    const records: AuditRecord[] = [];
    const from = new Date(query.since).toISOString();
    // `gsk` is `<ISO time>#<request id>`: every key of an instant before `until` sorts below it.
    const to = new Date(query.until).toISOString();
    const filters: string[] = [];
    const values: Record<string, unknown> = {};
    if (query.callerKeyId !== undefined) {
      filters.push('callerKeyId = :caller');
      values[':caller'] = query.callerKeyId;
    }
    if (query.email !== undefined) {
      filters.push('email = :email');
      values[':email'] = query.email.toLowerCase();
    }
    const filter = filters.length > 0 ? { expression: filters.join(' AND '), values } : undefined;
    for (let day = Date.parse(auditDay(query.since)); day < query.until; day += DAY_MS) {
      const items = groupItems(this.options, groupKeys.auditDay(auditDay(day)), signal, {
        sortKeyBetween: [from, to],
        ...(filter ? { filter } : {}),
      });
      for await (const item of items) {
        const record = auditRecordOf(item);
        if (!record || Date.parse(record.at) >= query.until) continue;
        if (records.length >= query.limit) return { records, truncated: true };
        records.push(record);
      }
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
