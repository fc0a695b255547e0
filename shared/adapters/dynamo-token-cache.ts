import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { TokenCache } from '../tokens/ports';
import type { CachedToken } from '../tokens/token';
import {
  type ClockedTable,
  conditionalWrite,
  IF_NEW,
  keyOf,
  TTL_MARGIN_SECONDS,
  tableKeys,
  ttlAt,
} from './table';

interface TokenItem {
  connection: string;
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  obtainedAt: number;
  secretVersion: string;
  refreshToken?: string;
  refreshExpiresAt?: number;
  scope?: string;
}

function lastUsefulMoment(
  token: Pick<CachedToken, 'expiresAt' | 'refreshToken' | 'refreshExpiresAt'>,
): number {
  if (token.refreshToken === undefined) return token.expiresAt;
  return Math.max(token.expiresAt, token.refreshExpiresAt ?? token.expiresAt);
}

function fromItem(item: Record<string, unknown> | undefined): CachedToken | undefined {
  if (!item) return undefined;
  const { connection, accessToken, tokenType, expiresAt, obtainedAt, secretVersion } = item;
  if (
    typeof connection !== 'string' ||
    typeof accessToken !== 'string' ||
    typeof tokenType !== 'string' ||
    typeof expiresAt !== 'number' ||
    typeof obtainedAt !== 'number' ||
    typeof secretVersion !== 'string'
  ) {
    return undefined; // not a token item we wrote: as good as absent
  }
  return {
    connection,
    accessToken,
    tokenType,
    expiresAt,
    obtainedAt,
    secretVersion,
    ...(typeof item.refreshToken === 'string' ? { refreshToken: item.refreshToken } : {}),
    ...(typeof item.refreshExpiresAt === 'number' ? { refreshExpiresAt: item.refreshExpiresAt } : {}),
    ...(typeof item.scope === 'string' ? { scope: item.scope } : {}),
  };
}

/**
 * L2 of the token source: one `token#<connection>` item, read consistently. Expiry is checked in
 * code on every read and in the condition of every write: TTL deletion lags by up to days.
 */
export class DynamoTokenCache implements TokenCache {
  constructor(private readonly options: ClockedTable) {}

  async read(connection: string, signal: AbortSignal): Promise<CachedToken | undefined> {
    const { Item } = await this.options.client.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: keyOf(tableKeys.token(connection)),
        ConsistentRead: true,
      }),
      { abortSignal: signal },
    );
    const token = fromItem(Item);
    if (!token || lastUsefulMoment(token) <= this.options.clock.now()) return undefined;
    return token;
  }

  async write(token: CachedToken, signal: AbortSignal): Promise<boolean> {
    const item: TokenItem = {
      connection: token.connection,
      accessToken: token.accessToken,
      tokenType: token.tokenType,
      expiresAt: token.expiresAt,
      obtainedAt: token.obtainedAt,
      secretVersion: token.secretVersion,
      ...(token.refreshToken !== undefined ? { refreshToken: token.refreshToken } : {}),
      ...(token.refreshExpiresAt !== undefined ? { refreshExpiresAt: token.refreshExpiresAt } : {}),
      ...(token.scope !== undefined ? { scope: token.scope } : {}),
    };
    return conditionalWrite(
      this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: {
            ...keyOf(tableKeys.token(token.connection)),
            ...item,
            ...ttlAt(Math.ceil(lastUsefulMoment(token) / 1000) + TTL_MARGIN_SECONDS),
          },
          // Never replace a newer token; an expired one may always be replaced.
          ConditionExpression: `${IF_NEW} OR obtainedAt < :obtainedAt OR expiresAt <= :now`,
          ExpressionAttributeValues: { ':obtainedAt': token.obtainedAt, ':now': this.options.clock.now() },
        }),
        { abortSignal: signal },
      ),
    );
  }

  async remove(connection: string, accessToken: string, signal: AbortSignal): Promise<void> {
    // Refused when a newer token replaced it: that one stays.
    await conditionalWrite(
      this.options.client.send(
        new DeleteCommand({
          TableName: this.options.tableName,
          Key: keyOf(tableKeys.token(connection)),
          ConditionExpression: 'accessToken = :accessToken',
          ExpressionAttributeValues: { ':accessToken': accessToken },
        }),
        { abortSignal: signal },
      ),
    );
  }
}
