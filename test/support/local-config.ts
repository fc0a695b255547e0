import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A local stack's configuration with one connection, `orders`: a vendable OAuth 2.0 client of the
 * token endpoint at `tokenUrl`, and its secret file (what `TICKET_BROKER_CONFIG` and
 * `TICKET_BROKER_SECRETS` point at), written into `dir`.
 * @returns the two files' paths
 */
export function writeOrdersConfig(
  dir: string,
  tokenUrl: string,
  client: { readonly clientId: string; readonly clientSecret: string },
): { configPath: string; secretsPath: string } {
  const configPath = join(dir, 'orders.json');
  const secretsPath = join(dir, 'orders-secrets.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      connections: {
        orders: {
          kind: 'oauth2-client-credentials',
          tokenUrl,
          clientAuth: 'client_secret_post',
          secretId: 'orders/client',
          vendable: true,
        },
      },
    }),
  );
  writeFileSync(secretsPath, JSON.stringify({ 'orders/client': client }));
  return { configPath, secretsPath };
}
