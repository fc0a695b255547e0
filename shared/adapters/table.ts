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
} as const;

export const tableKeys = {
  token: (connection: string) => `${KEY_PREFIXES.token}${connection}`,
  lease: (connection: string) => `${KEY_PREFIXES.lease}${connection}`,
  status: (connection: string) => `${KEY_PREFIXES.status}${connection}`,
  caller: (keyId: string) => `${KEY_PREFIXES.caller}${keyId}`,
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
