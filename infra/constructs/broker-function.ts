import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { BrokerConfig } from '../../shared/config/schema';
import { BUNDLE_SETTINGS } from '../bundling';
import { InvalidPropsError } from '../errors';

/** The services through which the functions may use a KMS key. */
type KeyService = 'dynamodb' | 'secretsmanager';

/** Powertools log levels (`POWERTOOLS_LOG_LEVEL`). */
export type BrokerLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** The environment variables the functions read (shared/runtime/environment.ts). */
export const BROKER_ENV = {
  config: 'BROKER_CONFIG',
  table: 'TABLE_NAME',
} as const;

/** Item actions the functions use on the broker table: no Query, Scan, batch or table actions. */
export const TABLE_ITEM_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
  'dynamodb:UpdateItem',
] as const;

/** Read-only access to one secret. Nothing in the app may put, update, rotate or delete a secret. */
export const SECRET_READ_ACTIONS = [
  'secretsmanager:GetSecretValue',
  'secretsmanager:DescribeSecret',
] as const;

/**
 * Key actions for reading and writing items of a table under a customer-managed key: those of the
 * CDK's own `grantReadWriteData`, without its `ReEncrypt*`/`GenerateDataKey*` wildcards, and usable
 * only through DynamoDB (kms:ViaService).
 */
const TABLE_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'];

export interface BrokerFunctionProps {
  /** The handler module, relative to the project root, e.g. `functions/issue-ticket/handler.ts`. */
  readonly entry: string;
  /** What the function is for (shown in the Lambda console). */
  readonly description: string;
  /** Powertools service name, for logs and metrics. Lower-case words separated by `-`. */
  readonly serviceName: string;
  /** @default Duration.seconds(15) */
  readonly timeout?: Duration;
  /** In MiB, 128 to 10240. @default 512 */
  readonly memorySize?: number;
  /** How long the function's log group keeps its logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: BrokerLogLevel;
  /** Powertools metrics namespace. @default 'TicketBroker' */
  readonly metricsNamespace?: string;
  /** Further environment variables (never a secret value). @default - none */
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * The house Lambda function, with the house defaults in one place: Node.js 22 on arm64, bundled by
 * the local esbuild with the settings the bundle tests use (infra/bundling.ts), X-Ray active, its
 * own log group with a retention, its own role with no managed policy (logs: that log group only),
 * source maps on, Powertools configured.
 *
 * `bindTable`, `bindSecret` and `bindConnections` grant least privilege and set the matching
 * environment in one call, so a permission and the variable that needs it cannot drift apart.
 *
 * @see https://github.com/aws-powertools/powertools-lambda-typescript/tree/main/examples/app
 */
export class BrokerFunction extends NodejsFunction {
  /** The function's log group (retention set; removed with the stack). */
  public readonly logs: LogGroup;
  /** The execution role: only what the bind helpers and the function's own features add. */
  public readonly executionRole: Role;

  private secretStatement: PolicyStatement | undefined;
  private readonly keyStatements = new Map<KeyService, { statement: PolicyStatement; keys: Set<IKey> }>();

  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    if (!/\.tsx?$/.test(props.entry))
      throw new InvalidPropsError(
        `BrokerFunction ${id}: entry must be a TypeScript module, got "${props.entry}"`,
      );
    if (!/^[a-z][a-z0-9-]*$/.test(props.serviceName))
      throw new InvalidPropsError(`BrokerFunction ${id}: serviceName must be lower-case words joined by "-"`);
    const memorySize = props.memorySize ?? 512;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240)
      throw new InvalidPropsError(
        `BrokerFunction ${id}: memorySize must be an integer from 128 to 10240 MiB`,
      );
    const timeout = props.timeout ?? Duration.seconds(15);
    if (timeout.toSeconds() < 1 || timeout.toSeconds() > 900)
      throw new InvalidPropsError(`BrokerFunction ${id}: timeout must be from 1 to 900 seconds`);
    for (const name of Object.keys(props.environment ?? {})) {
      if (name === BROKER_ENV.table || name === BROKER_ENV.config)
        throw new InvalidPropsError(
          `BrokerFunction ${id}: set ${name} with bindTable/bindConnections, not environment`,
        );
    }

    const logs = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of the default one with AWSLambdaBasicExecutionRole: logs may go to this
    // function's log group only, not to any log group of the account.
    const executionRole = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `ticket-broker ${props.serviceName}: execution role`,
    });
    logs.grantWrite(executionRole);

    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize,
      timeout,
      tracing: Tracing.ACTIVE,
      logGroup: logs,
      role: executionRole,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace ?? 'TicketBroker',
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        ...props.environment,
      },
      bundling: {
        format: BUNDLE_SETTINGS.format === 'cjs' ? OutputFormat.CJS : OutputFormat.ESM,
        mainFields: [...BUNDLE_SETTINGS.mainFields],
        minify: BUNDLE_SETTINGS.minify,
        sourceMap: BUNDLE_SETTINGS.sourcemap,
        target: BUNDLE_SETTINGS.target,
        externalModules: [...BUNDLE_SETTINGS.externalModules],
        // Local esbuild only: synth needs no Docker.
        forceDockerBundling: false,
        // The CDK runs the local esbuild through `npx --no-install`; npm would otherwise ask the
        // registry whether a newer npm exists. `cdk synth` makes no network call.
        environment: {
          NPM_CONFIG_UPDATE_NOTIFIER: 'false',
          NPM_CONFIG_AUDIT: 'false',
          NPM_CONFIG_FUND: 'false',
        },
      },
    });
    this.logs = logs;
    this.executionRole = executionRole;

    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'The runtime is pinned to Node.js 22 on purpose: the bundles are tested under Node 22 (test/integration/deployable-bundles.test.ts); moving to a newer runtime is a deliberate, tested upgrade.',
    });
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so "*" is the only possible resource. Every other statement names its resource.',
    });
  }

  /**
   * Read and write items of the broker's table: exactly the item actions the functions use, on that
   * table only, plus what its customer-managed key needs, usable only through DynamoDB; sets
   * `TABLE_NAME`. Identity-policy statements on this function's role (the key's policy delegates to
   * IAM), so the stateful stack never references the functions.
   */
  bindTable(table: ITable): this {
    this.addToRolePolicy(
      new PolicyStatement({
        sid: 'TableItems',
        actions: [...TABLE_ITEM_ACTIONS],
        resources: [table.tableArn],
      }),
    );
    if (table.encryptionKey) this.bindKey(table.encryptionKey, 'dynamodb', TABLE_KEY_ACTIONS);
    this.addEnvironment(BROKER_ENV.table, table.tableName);
    return this;
  }

  /**
   * Read one connection's secret: GetSecretValue and DescribeSecret on that secret only, and
   * kms:Decrypt of its key through Secrets Manager only. Never a write. Sets no variable: the
   * functions find the secret by the connection's `secretId` in `BROKER_CONFIG`.
   */
  bindSecret(secret: ISecret): this {
    if (!this.secretStatement) {
      this.secretStatement = new PolicyStatement({
        sid: 'ConnectionSecrets',
        actions: [...SECRET_READ_ACTIONS],
        resources: [secret.secretArn],
      });
      this.addToRolePolicy(this.secretStatement);
    } else {
      this.secretStatement.addResources(secret.secretArn);
    }
    if (secret.encryptionKey) this.bindKey(secret.encryptionKey, 'secretsmanager', ['kms:Decrypt']);
    return this;
  }

  /**
   * The connections this function serves: sets `BROKER_CONFIG` to the validated configuration and
   * binds the secret of each configured connection (and no other).
   * @param secrets the secret of each connection, by connection id; extra entries are ignored
   * @throws when a configured connection has no secret
   */
  bindConnections(config: BrokerConfig, secrets: Readonly<Record<string, ISecret>>): this {
    const missing = Object.keys(config.connections).filter((connection) => !secrets[connection]);
    if (missing.length > 0)
      throw new InvalidPropsError(`${this.node.path}: no secret for connection(s) ${missing.join(', ')}`);
    for (const connection of Object.keys(config.connections)) {
      const secret = secrets[connection];
      if (secret) this.bindSecret(secret);
    }
    this.addEnvironment(BROKER_ENV.config, JSON.stringify(config));
    return this;
  }

  /** One statement per service: its keys may be used only through that AWS service. */
  private bindKey(key: IKey, service: KeyService, actions: readonly string[]): void {
    const existing = this.keyStatements.get(service);
    if (existing) {
      if (!existing.keys.has(key)) {
        existing.keys.add(key);
        existing.statement.addResources(key.keyArn);
      }
      return;
    }
    const statement = new PolicyStatement({
      sid: service === 'dynamodb' ? 'TableKeyViaDynamoDB' : 'SecretKeyViaSecretsManager',
      actions: [...actions],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `${service}.${Aws.REGION}.amazonaws.com` } },
    });
    this.keyStatements.set(service, { statement, keys: new Set([key]) });
    this.addToRolePolicy(statement);
  }
}
