import { describeError, type ErrorCode } from '../errors';
import type { Log, Telemetry } from '../logging/ports';

/** What the audited request asked for. */
export type AuditAction = 'ticket' | 'token' | 'status';

/**
 * What came of it: a ticket issued (recorded as the vendor is asked, see {@link AuditRecord}), a
 * ticket whose vendor call then failed, a token vended, or a refusal (403) of an authenticated caller.
 */
export type AuditOutcome = 'ticket_issued' | 'ticket_failed' | 'token_vended' | 'forbidden';

/**
 * One audit record (docs/design.md "Audit trail"). It names who asked for what, from where, and
 * what came of it; it never holds a ticket, a token, a caller key or a secret (it has no field for
 * one). A ticket's record is written while the vendor is asked for the ticket, so it costs the
 * request no time; if that call then fails, a second record with the same `requestId` and outcome
 * `ticket_failed` follows, and `callers audit` shows the request's last outcome.
 */
export interface AuditRecord {
  /** ISO 8601, milliseconds. */
  readonly at: string;
  /** API Gateway's request id, as in the problem body and the log lines. */
  readonly requestId: string;
  readonly action: AuditAction;
  readonly outcome: AuditOutcome;
  readonly callerKeyId: string;
  readonly callerName: string;
  /** API Gateway's `requestContext.http.sourceIp`. */
  readonly sourceIp: string;
  readonly connection?: string;
  /** The ticket's subject, lower-cased (ticket requests only). */
  readonly email?: string;
  readonly groupIds?: readonly string[];
  readonly groupNames?: readonly string[];
  /** A refusal's detail as the caller saw it (capped), e.g. `groupIds not allowed for this caller: "admins"`. */
  readonly detail?: string;
  /** The error code of a failed ticket (`upstream_timeout`, ...). */
  readonly error?: ErrorCode;
}

/** Where a request came from, as API Gateway says: what an audit record needs beyond the caller. */
export interface RequestOrigin {
  readonly requestId: string;
  /** `requestContext.http.sourceIp`. */
  readonly sourceIp: string;
}

/** Where audit records go: appended, never changed or deleted by the broker's functions. */
export interface AuditTrail {
  append(record: AuditRecord, signal: AbortSignal): Promise<void>;
}

export interface AuditQuery {
  /** Epoch ms, inclusive. */
  readonly since: number;
  /** Epoch ms, exclusive. */
  readonly until: number;
  readonly callerKeyId?: string;
  /** Compared lower-cased. */
  readonly email?: string;
  /** Stop after this many records (oldest first). */
  readonly limit: number;
}

/** The operators' side: records of a time range, oldest first. */
export interface AuditReader {
  query(query: AuditQuery, signal: AbortSignal): Promise<{ records: AuditRecord[]; truncated: boolean }>;
}

/** Longest refusal detail a record keeps. */
export const AUDIT_DETAIL_MAX = 200;

/** The metric counted for each audit record that only a log line holds. */
export const AUDIT_NOT_STORED_METRIC = 'AuditRecordsNotStored';

/**
 * Writes audit records for the API and never fails a request for one: a record the trail cannot
 * take (the table unreachable or backed off) goes whole into an ERROR log line instead, counted as
 * `AuditRecordsNotStored`, so it is kept (with the logs' retention) and an operator can see it
 * happened. Tickets keep flowing through a table outage, as docs/design.md "Hanging dependencies"
 * promises.
 */
export class AuditRecorder {
  constructor(private readonly options: { trail: AuditTrail; log: Log; telemetry: Telemetry }) {}

  /** Resolves `true` once stored, `false` when only the log line holds it; never rejects. */
  async record(record: AuditRecord, signal: AbortSignal): Promise<boolean> {
    try {
      await this.options.trail.append(record, signal);
      return true;
    } catch (error) {
      this.options.log.error('audit record not stored in the table; this line holds it', {
        audit: record,
        error: describeError(error),
      });
      this.options.telemetry.count(AUDIT_NOT_STORED_METRIC);
      return false;
    }
  }
}
