import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, paginateQuery, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../clock';

// Plain constants the exported layout and the helpers below are built from: the minified bundles
// then name each by one short identifier instead of a property path at every use.
const PK = 'pk';
const TTL = 'ttl';
const GPK = 'gpk';
const GSK = 'gsk';

/**
 * The single table's layout (docs/design.md "DynamoDB table"), the one place it is written: the
 * adapters, the CDK stack (infra/stateful-stack.ts), the IAM conditions (infra/constructs/
 * broker-function.ts) and the local stand-ins (local/dynamodb.ts) all take it from here.
 *
 * The table's own attributes: the partition key, a string whose prefix says what the item is
 * ({@link KEY_PREFIXES}), and DynamoDB's TTL attribute, in epoch seconds.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-before-you-start.html
 */
export const TABLE_ATTRIBUTES = { partitionKey: PK, ttl: TTL } as const;

/** The broker table as every adapter reaches it: a document client and the table's name. */
export interface BrokerTable {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** The table, and the clock by which an adapter judges expiry (TTL deletion lags by up to days). */
export interface ClockedTable extends BrokerTable {
  readonly clock: Clock;
}

/** What each kind of item's partition key starts with. */
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

/** Each kind of item's partition key; `tableKeys.token('oms')` is `token#oms`. */
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
export const GROUP_INDEX = { name: 'group-index', partitionKey: GPK, sortKey: GSK } as const;

/** The `gpk` values of {@link GROUP_INDEX}. */
export const groupKeys = {
  callers: 'caller',
  lastUses: 'lastused',
  /** Audit records of one UTC day (`2026-12-02`), sorted by time in `gsk`. */
  auditDay: (day: string) => `audit#${day}`,
} as const;

/**
 * The items of one group of {@link GROUP_INDEX}, page after page by the SDK's own paginator, each
 * request bounded by `signal`. `query` narrows it: a range of sort keys, a filter.
 *
 * @example
 * for await (const item of groupItems(table, groupKeys.callers, signal)) console.log(item.gsk);
 */
export async function* groupItems(
  table: BrokerTable,
  group: string,
  signal: AbortSignal,
  query: {
    readonly sortKeyBetween?: readonly [string, string];
    readonly filter?: { readonly expression: string; readonly values: Record<string, unknown> };
  } = {},
): AsyncGenerator<Record<string, unknown>> {
  const between = query.sortKeyBetween;
  const input: QueryCommandInput = {
    TableName: table.tableName,
    IndexName: GROUP_INDEX.name,
    KeyConditionExpression: between ? '#gpk = :group AND #gsk BETWEEN :from AND :to' : '#gpk = :group',
    ExpressionAttributeNames: { '#gpk': GPK, ...(between ? { '#gsk': GSK } : {}) },
    ExpressionAttributeValues: {
      ':group': group,
      ...(between ? { ':from': between[0], ':to': between[1] } : {}),
      ...query.filter?.values,
    },
    ...(query.filter ? { FilterExpression: query.filter.expression } : {}),
  };
  for await (const page of paginateQuery({ client: table.client }, input, { abortSignal: signal }))
    yield* page.Items ?? [];
}

/** The key of the item whose partition key is `pk` (a {@link tableKeys} value). */
export function keyOf(pk: string): { readonly [PK]: string } {
  return { [PK]: pk };
}

/** The TTL attribute of an item DynamoDB may delete from `epochSeconds` on. */
export function ttlAt(epochSeconds: number): { readonly [TTL]: number } {
  return { [TTL]: epochSeconds };
}

/** The group index attributes of an item: its group (`gpk`) and its place in it (`gsk`). */
export function inGroup(group: string, sortKey: string): { readonly [GPK]: string; readonly [GSK]: string } {
  return { [GPK]: group, [GSK]: sortKey };
}

/** Condition of a write that only creates: no item has this key yet. */
export const IF_NEW = `attribute_not_exists(${PK})`;

/** Condition of a write that only changes: the item exists. */
export const IF_EXISTS = `attribute_exists(${PK})`;

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
