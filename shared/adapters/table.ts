import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/**
 * The single table's layout (docs/design.md "DynamoDB table"): one partition key `pk` whose prefix
 * says what the item is, and a TTL attribute `ttl` in epoch seconds.
 */
export const KEY_PREFIXES = {
  token: 'token#',
  lease: 'lease#',
  status: 'status#',
  caller: 'caller#',
  /** When a caller key was last used: written by the API function, at most once per key per few minutes. */
  lastUsed: 'lastused#',
  /** One audit record (a ticket issued, a token vended, a refusal): added, never changed. */
  audit: 'audit#',
  /** The operators' command's own bookkeeping (which upgrades it has applied). */
  meta: 'meta#',
} as const;

export const tableKeys = {
  token: (connection: string) => `${KEY_PREFIXES.token}${connection}`,
  lease: (connection: string) => `${KEY_PREFIXES.lease}${connection}`,
  status: (connection: string) => `${KEY_PREFIXES.status}${connection}`,
  caller: (keyId: string) => `${KEY_PREFIXES.caller}${keyId}`,
  lastUsed: (keyId: string) => `${KEY_PREFIXES.lastUsed}${keyId}`,
  audit: (id: string) => `${KEY_PREFIXES.audit}${id}`,
  meta: (name: string) => `${KEY_PREFIXES.meta}${name}`,
} as const;

/**
 * The table's one global secondary index, sparse: only items that carry `gpk` are in it. It lets
 * the operators' command read callers, last uses and audit records by group, never scanning the
 * table (which holds a year of audit records). One index because CloudFormation adds at most one
 * to an existing table per update.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-indexes-general-sparse-indexes.html
 */
export const GROUP_INDEX = {
  name: 'group-index',
  partitionKey: 'gpk',
  sortKey: 'gsk',
} as const;

/** The `gpk` values of {@link GROUP_INDEX}. */
export const groupKeys = {
  callers: 'caller',
  lastUses: 'lastused',
  /** Audit records of one UTC day (`2026-12-02`), sorted by time in `gsk`. */
  auditDay: (day: string) => `audit#${day}`,
} as const;

/** How long an item outlives its last useful moment before TTL may delete it. */
export const TTL_MARGIN_SECONDS = 3600;

/**
 * Runs a conditional write. Resolves `true` when it was applied and `false` when its condition
 * refused it (another writer got there first, which the callers expect); any other failure throws.
 */
export async function conditionalWrite(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
