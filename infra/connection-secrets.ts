import type { BrokerConfig, ConnectionKind } from '../shared/config/schema';
import { deployedSecretName, secretNamePrefix } from './names';

/** The JSON every connection secret holds (docs/design.md "Configuration"). */
export const SECRET_VALUE_SHAPE = '{"clientId":"...","clientSecret":"..."}';

/** One connection's secret in a deployment. */
export interface ConnectionSecret {
  readonly connection: string;
  readonly kind: ConnectionKind;
  /** The configuration's `secretId`. */
  readonly secretId: string;
  /** The deployed secret's name, `<stackPrefix>/<secretId>`. */
  readonly secretName: string;
  /** Whose credentials the secret holds, in words. */
  readonly holds: string;
}

/**
 * The secret of every configured connection in the deployment with this stack prefix, in the
 * configuration's order: what the stateful stack creates and what `npm run secrets` lists, from one
 * derivation.
 * @throws InvalidPropsError when the prefix is unusable or a name would pass Secrets Manager's limit
 */
export function connectionSecretsOf(config: BrokerConfig, stackPrefix: string): ConnectionSecret[] {
  const namePrefix = secretNamePrefix(stackPrefix);
  return Object.entries(config.connections).map(([connection, settings]) => ({
    connection,
    kind: settings.kind,
    secretId: settings.secretId,
    secretName: deployedSecretName(namePrefix, settings.secretId),
    holds: describeCredentials(settings.kind),
  }));
}

/**
 * The AWS CLI command that puts a connection's credentials, reading the JSON from a file so the
 * secret is neither on the command line nor in the shell's history.
 * @param options.region the deployment's region; left out, the CLI's default region applies
 * @param options.file the JSON file ({@link SECRET_VALUE_SHAPE}) the operator writes, then deletes
 */
export function putSecretCommand(
  secret: Pick<ConnectionSecret, 'secretName'>,
  options: { readonly region?: string; readonly file: string },
): string {
  const region = options.region ? ` --region ${options.region}` : '';
  return `aws secretsmanager put-secret-value${region} --secret-id ${secret.secretName} --secret-string file://${options.file}`;
}

function describeCredentials(kind: ConnectionKind): string {
  switch (kind) {
    case 'astrato-oem':
      return 'the Astrato OEM API client';
    case 'oauth2-client-credentials':
      return 'the OAuth 2.0 client';
  }
}
