import * as z from 'zod/mini';
import { CONNECTION_ID_PATTERN } from '../config/schema';
import { MAX_SOURCE_CIDRS } from './cidr';
import type { SourceNetworks } from './source-networks';
import '../validation';

/** What a caller may do on one connection (docs/design.md "Callers"). */
export const connectionScopeSchema = z.strictObject({
  /** May mint tickets (astrato-oem connections). */
  tickets: z._default(z.boolean(), false),
  /** Requested groupIds must be a subset; empty = no groups may be requested. */
  allowedGroupIds: z._default(
    z.array(z.string().check(z.minLength(1), z.maxLength(256))).check(z.maxLength(500)),
    [],
  ),
  /** Requested groupNames must be a subset (exact match); empty = no group names may be requested. */
  allowedGroupNames: z._default(
    z.array(z.string().check(z.minLength(1), z.maxLength(256))).check(z.maxLength(500)),
    [],
  ),
  /** Lower-case domains; empty = any email, when `anyEmail` allows it (see below). */
  allowedEmailDomains: z._default(
    z.array(z.string().check(z.minLength(1), z.maxLength(253))).check(z.maxLength(100)),
    [],
  ),
  /**
   * The operator's recorded decision that tickets may be minted for any email (`--any-email`).
   * `false` with no domains allows none; absent (records created before the decision was
   * required) keeps the old meaning, any email, and `callers list` marks it.
   */
  anyEmail: z.optional(z.boolean()),
  /** May read vendable tokens (oauth2 connections marked `vendable`). */
  tokens: z._default(z.boolean(), false),
});

export type ConnectionScope = z.infer<typeof connectionScopeSchema>;

export const callerRecordSchema = z.object({
  keyId: z.string(),
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  /** Hex SHA-256 of the key's secret part. */
  secretHash: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  scopes: z.record(z.string().check(z.regex(CONNECTION_ID_PATTERN)), connectionScopeSchema),
  disabled: z._default(z.boolean(), false),
  createdAt: z.string(),
  disabledAt: z.optional(z.string()),
  /** ISO 8601: from then on the key is refused like an unknown one (`--expires-in`, or a rotation's overlap). */
  expiresAt: z.optional(z.string().check(z.refine((value) => Number.isFinite(Date.parse(value)), 'a date'))),
  /**
   * The networks requests may come from (`--source-cidrs`), checked when written (shared/callers/
   * cidr.ts); absent: any. A stored entry that does not parse (a record edited by hand) refuses
   * every request of the caller.
   */
  sourceCidrs: z.optional(
    z.array(z.string().check(z.maxLength(64))).check(z.minLength(1), z.maxLength(MAX_SOURCE_CIDRS)),
  ),
  /** The key this one replaced (`rotate`). */
  replaces: z.optional(z.string()),
  /** The key that replaced this one (`rotate`); this one then expires after the overlap. */
  replacedBy: z.optional(z.string()),
});

export type CallerRecord = z.infer<typeof callerRecordSchema>;

/** An authenticated caller, as the use-cases see it (no hash). */
export interface Caller {
  readonly keyId: string;
  readonly name: string;
  readonly scopes: Readonly<Record<string, ConnectionScope>>;
  /**
   * Where its requests may come from (the record's `sourceCidrs`, parsed once per record read);
   * absent: anywhere.
   */
  readonly sourceNetworks?: SourceNetworks;
}

/** Changes the operators' command makes to an existing caller record. */
export interface CallerChanges {
  readonly expiresAt?: string;
  readonly replacedBy?: string;
  /** `null` removes the restriction (any source). */
  readonly sourceCidrs?: readonly string[] | null;
}

/** What authentication needs of the caller records: one by key id. */
export interface CallerReader {
  get(keyId: string, signal: AbortSignal): Promise<CallerRecord | undefined>;
}

/** Persistence of caller records (`caller#<keyId>` items); each call takes the signal of its work. */
export interface CallerStore extends CallerReader {
  /** Creates the record; fails if the key id exists. */
  create(record: CallerRecord, signal: AbortSignal): Promise<void>;
  list(signal: AbortSignal): Promise<CallerRecord[]>;
  /** Marks the caller disabled; resolves false when there is no such caller. */
  disable(keyId: string, at: string, signal: AbortSignal): Promise<boolean>;
  /**
   * Applies `changes`; resolves false when there is no such caller, or (with `replacedBy`) when it
   * was already replaced: a key is rotated once.
   */
  update(keyId: string, changes: CallerChanges, signal: AbortSignal): Promise<boolean>;
}

/**
 * When each caller key was last used (`lastused#<keyId>` items). The API function records, the
 * operators' command reads; neither touches the caller record itself.
 */
export interface LastUseWriter {
  /** Records a use at `at` (epoch ms); never moves an already later one back. */
  record(keyId: string, at: number, signal: AbortSignal): Promise<void>;
}

/** Last uses as the operators' command sees them: recorded and listed. */
export interface LastUseStore extends LastUseWriter {
  /** Every recorded last use, by key id (epoch ms). */
  list(signal: AbortSignal): Promise<Map<string, number>>;
}
