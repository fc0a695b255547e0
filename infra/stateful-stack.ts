import { CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { PLACEHOLDER_CLIENT_ID } from '../shared/adapters/secrets-manager-store';
import { GROUP_INDEX, TABLE_ATTRIBUTES } from '../shared/adapters/table';
import type { BrokerConfig } from '../shared/config/schema';
import { DEFAULT_CONFIG_PATH } from './config-file';
import { type ConnectionSecret, connectionSecretsOf, SECRET_VALUE_SHAPE } from './connection-secrets';
import type { ConnectionSecrets } from './constructs/broker-function';
import { InvalidPropsError } from './errors';
import { checkPrefix, DEFAULT_PREFIX, secretNamePrefix } from './names';

export { CLOUDFORMATION_TEMPLATE_QUOTAS, MAX_CONNECTIONS } from './connection-secrets';

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
  /**
   * The configuration file the app was synthesized from, repeated in the printed `secrets` and
   * `callers` commands so they read the same file. @default 'config/connections.json'
   */
  readonly configPath?: string;
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
    // Checked before anything is built: the configuration must make a deployable set of secrets.
    let connectionSecrets: ConnectionSecret[];
    try {
      connectionSecrets = connectionSecretsOf(props.config, prefix);
    } catch (error) {
      if (error instanceof InvalidPropsError) throw new InvalidPropsError(`${id}: ${error.message}`);
      throw error;
    }

    this.key = new Key(this, 'Key', {
      description: 'ticket-broker: encrypts the broker table and the partner client secrets',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Table, not TableV2: the same resource in every region, so the app stays env-agnostic and
    // `cdk synth` needs no account or region. Its name is generated from the stack's.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_ATTRIBUTES.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_ATTRIBUTES.ttl,
      deletionProtection: props.tableDeletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The group index (callers, last uses, audit records by day): the operators' command reads
    // through it instead of scanning a table that holds a year of audit records. Part of the table
    // resource, so the stack's resource count (and the maximum number of connections) is unchanged;
    // an existing table gets it in place (CloudFormation adds one index per update).
    this.table.addGlobalSecondaryIndex({
      indexName: GROUP_INDEX.name,
      partitionKey: { name: GROUP_INDEX.partitionKey, type: AttributeType.STRING },
      sortKey: { name: GROUP_INDEX.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
    const namePrefix = secretNamePrefix(prefix);
    this.connectionSecrets = { namePrefix, key: this.key };

    const secrets: Record<string, Secret> = {};
    for (const each of connectionSecrets) {
      // The construct id (so the logical id) follows the secret, not the connection: renaming a
      // connection that keeps its secretId keeps the same secret resource.
      const secret = new Secret(this, secretConstructId(each.secretId), {
        secretName: each.secretName,
        description: `ticket-broker connection "${each.connection}" (${each.kind}): put the JSON ${SECRET_VALUE_SHAPE} of ${each.holds} with put-secret-value`,
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
      secrets[each.connection] = secret;
    }
    this.secrets = secrets;
    this.addOutputs(props, prefix);
  }

  /**
   * What an operator needs after a deployment, in a fixed number of outputs whatever the number of
   * connections (CloudFormation allows 200 per stack): where the secrets are and the command that
   * prints the put command of each, the table and the commands that create the first callers.
   * Plain outputs, never exports, so a connection change never meets "export in use".
   */
  private addOutputs(props: StatefulStackProps, prefix: string): void {
    const region = Stack.of(this).region;
    const configPath = props.configPath ?? DEFAULT_CONFIG_PATH;
    const configFlag = configPath !== DEFAULT_CONFIG_PATH ? ` --config ${configPath}` : '';
    const prefixFlag = prefix !== DEFAULT_PREFIX ? ` --stack-prefix ${prefix}` : '';
    new CfnOutput(this, 'SecretNamePrefix', {
      value: this.connectionSecrets.namePrefix,
      description: `Every connection secret is named <prefix><secretId> and holds the JSON ${SECRET_VALUE_SHAPE}`,
    });
    new CfnOutput(this, 'PutSecretsCommand', {
      value: `npm run --silent secrets -- list --region ${region}${prefixFlag}${configFlag}`,
      description: 'Prints, for each connection, its secret and the command that puts its credentials',
    });
    new CfnOutput(this, 'TableName', {
      value: this.table.tableName,
      description: 'The broker table (callers, tokens, leases, refresh status)',
    });

    const connections = Object.entries(props.config.connections);
    const create = `AWS_REGION=${region} TABLE_NAME=${this.table.tableName} npm run callers -- create`;
    const ticketConnection = connections.find(([, c]) => c.kind === 'astrato-oem')?.[0];
    const [firstConnection] = Object.keys(props.config.connections);
    new CfnOutput(this, 'CreateCallerCommand', {
      description: 'Create the first caller, for embed tickets (prints its key once)',
      value: `${create} --name "<saas app>" --connection ${ticketConnection ?? firstConnection}${
        ticketConnection ? ' --groups "<group-id,...>" --email-domains "<example.com>"' : ''
      }${configFlag}`,
    });
    const vendable = connections.find(([, c]) => c.kind === 'oauth2-client-credentials' && c.vendable)?.[0];
    if (vendable) {
      new CfnOutput(this, 'CreateTokenCallerCommand', {
        description: `Create a caller that may read the vendable tokens of "${vendable}" (prints its key once)`,
        value: `${create} --name "<backend>" --connection ${vendable} --tokens --no-tickets${configFlag}`,
      });
    }
  }
}

/**
 * A secret's construct id, from its secretId: encoded, so two different secretIds never share one
 * (`a/b` and `a-b` stay apart), and independent of the connection id.
 */
export function secretConstructId(secretId: string): string {
  return `Secret-${encodeURIComponent(secretId)}`;
}
