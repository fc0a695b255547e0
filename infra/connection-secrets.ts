import type { BrokerConfig, ConnectionKind } from '../shared/config/schema';
import { InvalidPropsError } from './errors';
import { deployedSecretName, secretNamePrefix } from './names';

/**
 * CloudFormation's quotas on one template, which every stack of the app must stay within.
 * @see https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
 */
export const CLOUDFORMATION_TEMPLATE_QUOTAS = {
  resources: 500,
  outputs: 200,
  parameters: 200,
  mappings: 200,
  /** The body of a template CloudFormation reads from S3 (the CDK uploads every template). */
  bodyBytes: 1_000_000,
} as const;

/**
 * Resources of the stateful stack besides the secrets: the key, the table, and the CDK's own
 * `CDKMetadata` (in every region that has it).
 */
const STATEFUL_FIXED_RESOURCES = 3;

/**
 * The most connections one deployment holds: the stateful stack has one secret resource per
 * connection, and CloudFormation allows 500 resources per stack. Nothing else grows with the
 * connections (outputs, IAM policies and the functions' environment are constant;
 * test/infra/limits.test.ts).
 */
export const MAX_CONNECTIONS = CLOUDFORMATION_TEMPLATE_QUOTAS.resources - STATEFUL_FIXED_RESOURCES;

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
 * @throws InvalidPropsError when the set is not deployable: no connection, more than {@link MAX_CONNECTIONS},
 *   a `secretId` that is an ARN or shared by two connections, an unusable prefix, or a name past
 *   Secrets Manager's limit
 */
export function connectionSecretsOf(config: BrokerConfig, stackPrefix: string): ConnectionSecret[] {
  const namePrefix = secretNamePrefix(stackPrefix);
  const connections = Object.entries(config.connections);
  if (connections.length === 0) throw new InvalidPropsError('the configuration has no connection');
  if (connections.length > MAX_CONNECTIONS)
    throw new InvalidPropsError(
      `the configuration has ${connections.length} connections; one deployment holds at most ${MAX_CONNECTIONS} (one secret each, and CloudFormation's ${CLOUDFORMATION_TEMPLATE_QUOTAS.resources} resources per stack). Split them over deployments with -c stackPrefix`,
    );
  const owners = new Map<string, string>();
  for (const [connection, settings] of connections) {
    // The app creates each secret, so it needs a name; an ARN would point at a secret made elsewhere.
    if (settings.secretId.startsWith('arn:'))
      throw new InvalidPropsError(
        `connections.${connection}.secretId must be a secret name (this app creates the secret), not an ARN`,
      );
    const other = owners.get(settings.secretId);
    if (other)
      throw new InvalidPropsError(
        `connections.${connection}.secretId "${settings.secretId}" is also the secret of connection "${other}"; each connection has its own secret`,
      );
    owners.set(settings.secretId, connection);
  }
  return connections.map(([connection, settings]) => ({
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
