import { Aws, CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { PLACEHOLDER_CLIENT_ID } from '../shared/adapters/secrets-manager-store';
import type { BrokerConfig, ConnectionKind } from '../shared/config/schema';
import type { ConnectionSecrets } from './constructs/broker-function';
import { InvalidPropsError } from './errors';
import { checkPrefix, DEFAULT_PREFIX, deployedSecretName, secretNamePrefix } from './names';

/** The table's key and TTL attribute (docs/design.md "DynamoDB table"). */
export const TABLE_PARTITION_KEY = 'pk';
export const TABLE_TTL_ATTRIBUTE = 'ttl';

/** The JSON every connection secret holds (docs/design.md "Configuration"). */
export const SECRET_VALUE_SHAPE = '{"clientId":"...","clientSecret":"..."}';

export interface StatefulStackProps extends StackProps {
  /** The validated configuration: one secret per connection, named `<namePrefix>/<secretId>`. */
  readonly config: BrokerConfig;
  /**
   * The deployment prefix, carried by every physical name (secrets: `<namePrefix>/<secretId>`).
   * @default DEFAULT_PREFIX ('TicketBroker')
   */
  readonly namePrefix?: string;
  /**
   * Refuse to delete the table (CloudFormation deletion protection), on top of the retain policy.
   * @default true
   */
  readonly tableDeletionProtection?: boolean;
}

/**
 * What must outlive a deployment: the customer-managed key (rotated yearly), the single table
 * (tokens, leases, refresh status, callers) and one Secrets Manager secret per connection. All are
 * retained when the stack is deleted. The stateless stack receives the table and
 * `connectionSecrets` (a name prefix and the key) as typed props: nothing it imports from here
 * changes when connections are added, removed, renamed or given another secret.
 */
export class StatefulStack extends Stack {
  /** Encrypts the table and the connection secrets. */
  public readonly key: Key;
  public readonly table: Table;
  /** Where the connection secrets are: every name starts with `<namePrefix>/`; the key. */
  public readonly connectionSecrets: ConnectionSecrets;
  /** The secret of each configured connection, by connection id. */
  public readonly secrets: Readonly<Record<string, Secret>>;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const prefix = checkPrefix(props.namePrefix ?? DEFAULT_PREFIX);
    const connections = Object.entries(props.config.connections);
    if (connections.length === 0) throw new InvalidPropsError(`${id}: the configuration has no connection`);
    const owners = new Map<string, string>();
    for (const [connection, settings] of connections) {
      // The app creates each secret, so it needs a name; an ARN would point at a secret made elsewhere.
      if (settings.secretId.startsWith('arn:'))
        throw new InvalidPropsError(
          `${id}: connections.${connection}.secretId must be a secret name (this app creates the secret), not an ARN`,
        );
      const other = owners.get(settings.secretId);
      if (other)
        throw new InvalidPropsError(
          `${id}: connections.${connection}.secretId "${settings.secretId}" is also the secret of connection "${other}"; each connection has its own secret`,
        );
      owners.set(settings.secretId, connection);
    }

    this.key = new Key(this, 'Key', {
      description: 'ticket-broker: encrypts the broker table and the partner client secrets',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Table, not TableV2: the same resource in every region, so the app stays env-agnostic and
    // `cdk synth` needs no account or region. Its name is generated from the stack's.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_PARTITION_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_TTL_ATTRIBUTE,
      deletionProtection: props.tableDeletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const namePrefix = secretNamePrefix(prefix);
    this.connectionSecrets = { namePrefix, key: this.key };

    const secrets: Record<string, Secret> = {};
    for (const [connection, settings] of connections) {
      // The construct id (so the logical id) follows the secret, not the connection: renaming a
      // connection that keeps its secretId keeps the same secret resource.
      const secret = new Secret(this, secretConstructId(settings.secretId), {
        secretName: deployedSecretName(namePrefix, settings.secretId),
        description: `ticket-broker connection "${connection}" (${settings.kind}): put the JSON ${SECRET_VALUE_SHAPE} of ${describeCredentials(settings.kind)} with put-secret-value`,
        encryptionKey: this.key,
        removalPolicy: RemovalPolicy.RETAIN,
        // A placeholder of the right shape, generated by Secrets Manager at creation: no value is in
        // the template. Until an operator puts the real value, the partner refuses it (invalid_client)
        // and the refresher's alarms say so.
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ clientId: PLACEHOLDER_CLIENT_ID }),
          generateStringKey: 'clientSecret',
          excludePunctuation: true,
          passwordLength: 32,
        },
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Partner client secrets are issued and rotated in the partner’s own portal (Astrato, Keycloak), which no Lambda here can drive; operators rotate by put-secret-value and the broker moves to the new version within a minute, never using a token minted with the old one.',
      });
      secrets[connection] = secret;
    }
    this.secrets = secrets;
    this.addSecretOutputs(
      connections.map(([connection, settings]) => [
        connection,
        deployedSecretName(namePrefix, settings.secretId),
      ]),
    );
  }

  /**
   * Per connection: the secret's name and the command that puts its value. Plain outputs of this
   * stack, never exports, so a connection change never meets "export in use".
   */
  private addSecretOutputs(connections: readonly (readonly [string, string])[]): void {
    const names = new Map(connections);
    for (const [connection, outputId] of outputIdsOf(this.node.id, [...names.keys()])) {
      const name = names.get(connection) as string;
      new CfnOutput(this, `SecretName${outputId}`, {
        value: name,
        description: `Secret of connection "${connection}"`,
      });
      new CfnOutput(this, `PutSecretCommand${outputId}`, {
        description: `Put the client credentials of connection "${connection}"`,
        value: `aws secretsmanager put-secret-value --region ${Aws.REGION} --secret-id ${name} --secret-string '${PUT_SECRET_PLACEHOLDER}'`,
      });
    }
  }
}

/** The secret's JSON shape (SECRET_VALUE_SHAPE) with placeholders an operator replaces. */
const PUT_SECRET_PLACEHOLDER = '{"clientId":"<client id>","clientSecret":"<client secret>"}';

/**
 * A secret's construct id, from its secretId: encoded, so two different secretIds never share one
 * (`a/b` and `a-b` stay apart), and independent of the connection id.
 */
export function secretConstructId(secretId: string): string {
  return `Secret-${encodeURIComponent(secretId)}`;
}

/** Output ids per connection (`SecretName<Id>`): alphanumeric and distinct. */
export function outputIdsOf(stackId: string, connections: readonly string[]): ReadonlyMap<string, string> {
  const ids = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const connection of connections) {
    const outputId = connection
      .split(/[^a-z0-9]+/)
      .filter(Boolean)
      .map((part) => part[0]?.toUpperCase() + part.slice(1))
      .join('');
    const other = owners.get(outputId);
    if (other)
      throw new InvalidPropsError(
        `${stackId}: connections "${other}" and "${connection}" would share the output name ${outputId}; rename one`,
      );
    owners.set(outputId, connection);
    ids.set(connection, outputId);
  }
  return ids;
}

function describeCredentials(kind: ConnectionKind): string {
  switch (kind) {
    case 'astrato-oem':
      return 'the Astrato OEM API client';
    case 'oauth2-client-credentials':
      return 'the OAuth 2.0 client';
  }
}
