import { z } from 'zod';
import { CONNECTION_ID_PATTERN } from '../config/schema';

/** What a caller may do on one connection (docs/design.md "Callers"). */
export const connectionScopeSchema = z
  .object({
    /** May mint tickets (astrato-oem connections). */
    tickets: z.boolean().default(false),
    /** Requested groupIds must be a subset; empty = no groups may be requested. */
    allowedGroupIds: z.array(z.string().min(1).max(256)).max(500).default([]),
    /** Requested groupNames must be a subset (exact match); empty = no group names may be requested. */
    allowedGroupNames: z.array(z.string().min(1).max(256)).max(500).default([]),
    /** Lower-case domains; empty = any. */
    allowedEmailDomains: z.array(z.string().min(1).max(253)).max(100).default([]),
    /** May read vendable tokens (oauth2 connections marked `vendable`). */
    tokens: z.boolean().default(false),
  })
  .strict();

export type ConnectionScope = z.infer<typeof connectionScopeSchema>;

export const callerRecordSchema = z.object({
  keyId: z.string(),
  name: z.string().min(1).max(200),
  /** Hex SHA-256 of the key's secret part. */
  secretHash: z.string().regex(/^[0-9a-f]{64}$/),
  scopes: z.record(z.string().regex(CONNECTION_ID_PATTERN), connectionScopeSchema),
  disabled: z.boolean().default(false),
  createdAt: z.string(),
  disabledAt: z.string().optional(),
});

export type CallerRecord = z.infer<typeof callerRecordSchema>;

/** An authenticated caller, as the use-cases see it (no hash). */
export interface Caller {
  readonly keyId: string;
  readonly name: string;
  readonly scopes: Readonly<Record<string, ConnectionScope>>;
}

/** Persistence of caller records (`caller#<keyId>` items). */
export interface CallerStore {
  get(keyId: string): Promise<CallerRecord | undefined>;
  /** Creates the record; fails if the key id exists. */
  create(record: CallerRecord): Promise<void>;
  list(): Promise<CallerRecord[]>;
  /** Marks the caller disabled; resolves false when there is no such caller. */
  disable(keyId: string, at: string): Promise<boolean>;
}
