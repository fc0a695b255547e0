import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Stage, Token, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, type CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { tableKeys } from '../../shared/adapters/table';
import type { BrokerConfig } from '../../shared/config/schema';
import { METRICS_NAMESPACE } from '../../shared/logging/telemetry';
import { CONFIG_FILE_NAME, ENV, type ServiceName } from '../../shared/runtime/environment';
import { BUNDLE_SETTINGS } from '../bundling';
import { InvalidPropsError } from '../errors';
import { wildcardResourceFinding } from '../nag';

/** The services through which the functions may use a KMS key. */
type KeyService = 'dynamodb' | 'secretsmanager';

/** Powertools log levels (`POWERTOOLS_LOG_LEVEL`). */
export type BrokerLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** The kinds of item in the broker table, by the prefix of their key (`token#<connection>`, ...). */
export type TableItemKind = keyof typeof tableKeys;

/** What a function may do with the items of the table, by kind. */
export interface TableAccess {
  /** Kinds of item the function may read (GetItem). */
  readonly read: readonly TableItemKind[];
  /** Kinds of item the function may put and delete (PutItem, DeleteItem). */
  readonly write: readonly TableItemKind[];
  /**
   * Kinds of item the function may only put (PutItem): never read, update or delete, e.g. audit
   * records, which it adds and cannot then change. @default - none
   */
  readonly put?: readonly TableItemKind[];
}

/** The item read action the functions use: no Query, Scan, batch or table actions. */
export const TABLE_READ_ACTIONS = ['dynamodb:GetItem'] as const;

/** The item write actions the functions use (no UpdateItem: nothing in them updates an item). */
export const TABLE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:DeleteItem'] as const;

/** The one action on kinds of item a function only adds (`TableAccess.put`). */
export const TABLE_PUT_ACTIONS = ['dynamodb:PutItem'] as const;

/** Read-only access to a secret's value. Nothing in the app may put, update, rotate or delete one. */
export const SECRET_READ_ACTIONS = ['secretsmanager:GetSecretValue'] as const;

/**
 * Key actions for reading and writing items of a table under a customer-managed key: those of the
 * CDK's own `grantReadWriteData`, without its `ReEncrypt*`/`GenerateDataKey*` wildcards, and usable
 * only through DynamoDB (kms:ViaService).
 */
const TABLE_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'];

/** Lambda's limit on a function's environment variables: 4 KB, names and values together. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * How long a value CloudFormation fills in at deploy time is counted when checking the environment
 * against Lambda's limit: the longest such value the functions get is a table name, which DynamoDB
 * caps at 255 characters.
 */
const DEPLOY_TIME_VALUE_BYTES = 255;

/** Where a deployment's connection secrets are: one name prefix, one key. */
export interface ConnectionSecrets {
  /** Every connection secret's name starts with this, e.g. `TicketBroker/`. */
  readonly namePrefix: string;
  /** The customer-managed key that encrypts them. */
  readonly key: IKey;
}

export interface BrokerFunctionProps {
  /** The handler module, relative to the project root, e.g. `functions/issue-ticket/handler.ts`. */
  readonly entry: string;
  /** What the function is for (shown in the Lambda console). */
  readonly description: string;
  /**
   * Which of the broker's functions this is: its Powertools service name (`POWERTOOLS_SERVICE_NAME`),
   * which the function reads back for its logs and metrics, and the alarms and dashboard read.
   */
  readonly serviceName: ServiceName;
  /**
   * The validated configuration, shipped in the function's code as `broker-config.json` (read once
   * at cold start), never in an environment variable: Lambda caps the environment at 4 KB.
   */
  readonly config: BrokerConfig;
  /** @default Duration.seconds(15) */
  readonly timeout?: Duration;
  /** In MiB, 128 to 10240. @default 512 */
  readonly memorySize?: number;
  /** How long the function's log group keeps its logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: BrokerLogLevel;
  /** Powertools metrics namespace. @default METRICS_NAMESPACE ('TicketBroker') */
  readonly metricsNamespace?: string;
  /** Further environment variables (never a secret value). @default - none */
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * The house Lambda function, with the house defaults in one place: Node.js 22 on arm64, bundled by
 * the local esbuild with the settings the bundle tests use (infra/bundling.ts), the validated
 * configuration in the bundle, X-Ray active, its own log group with a retention, its own role with
 * no managed policy (logs: that log group only), source maps on, Powertools configured. Synthesis
 * fails when its environment would exceed Lambda's 4 KB.
 *
 * `bindTable` and `bindConnectionSecrets` grant least privilege and set the matching environment
 * in one call, so a permission and the variable that needs it cannot drift apart.
 *
 * @see https://github.com/aws-powertools/powertools-lambda-typescript/tree/main/examples/app
 */
export class BrokerFunction extends NodejsFunction {
  /** The function's log group (retention set; removed with the stack). */
  public readonly logs: LogGroup;
  /** The execution role: only what the bind helpers and the function's own features add. */
  public readonly executionRole: Role;
  /** The configuration shipped in the function's code (`broker-config.json`). */
  public readonly config: BrokerConfig;

  private readonly keyStatements = new Map<KeyService, { statement: PolicyStatement; keys: Set<IKey> }>();

  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    if (!/\.tsx?$/.test(props.entry))
      throw new InvalidPropsError(
        `BrokerFunction ${id}: entry must be a TypeScript module, got "${props.entry}"`,
      );
    const memorySize = props.memorySize ?? 512;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240)
      throw new InvalidPropsError(
        `BrokerFunction ${id}: memorySize must be an integer from 128 to 10240 MiB`,
      );
    const timeout = props.timeout ?? Duration.seconds(15);
    if (timeout.toSeconds() < 1 || timeout.toSeconds() > 900)
      throw new InvalidPropsError(`BrokerFunction ${id}: timeout must be from 1 to 900 seconds`);
    const reserved = new Set<string>(Object.values(ENV));
    for (const name of Object.keys(props.environment ?? {})) {
      if (reserved.has(name))
        throw new InvalidPropsError(
          `BrokerFunction ${id}: ${name} is set by the construct (props or bindTable), not through environment`,
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
    const configSource = stageConfigFile(scope, props.config);

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
      // No --enable-source-maps: Node then reads and parses the whole source map at load, which
      // made a cold process 1.7x as long and 22 MiB larger (20 pairs, README "Cold start"). The map ships in
      // the asset; `npm run map-stack` turns a logged stack back into source positions.
      environment: {
        [ENV.serviceName]: props.serviceName,
        [ENV.metricsNamespace]: props.metricsNamespace ?? METRICS_NAMESPACE,
        [ENV.logLevel]: props.logLevel ?? 'INFO',
        // Relative to the code's directory (LAMBDA_TASK_ROOT): the file is in the asset.
        [ENV.configFile]: CONFIG_FILE_NAME,
        ...props.environment,
      },
      bundling: {
        format: BUNDLE_SETTINGS.format === 'cjs' ? OutputFormat.CJS : OutputFormat.ESM,
        mainFields: [...BUNDLE_SETTINGS.mainFields],
        minify: BUNDLE_SETTINGS.minify,
        sourceMap: BUNDLE_SETTINGS.sourcemap,
        target: BUNDLE_SETTINGS.target,
        externalModules: [...BUNDLE_SETTINGS.externalModules],
        esbuildArgs: {
          '--alias': Object.entries(BUNDLE_SETTINGS.alias).map(([from, to]) => `${from}=${to}`),
          ...Object.fromEntries(
            Object.entries(BUNDLE_SETTINGS.supported).map(([feature, on]) => [
              `--supported:${feature}`,
              String(on),
            ]),
          ),
        },
        // Local esbuild only: synth needs no Docker.
        forceDockerBundling: false,
        // The configuration goes into the asset beside index.js. The asset's hash is taken from the
        // bundle's output, so a configuration change is a code change that deploys.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp ${shellQuote(configSource)} ${shellQuote(join(outputDir, CONFIG_FILE_NAME))}`,
          ],
        },
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
    this.config = props.config;
    this.node.addValidation({ validate: () => this.checkEnvironmentSize() });
    // cfn-lint W3005 (a DependsOn already implied by a GetAtt): aws-lambda makes the function depend
    // on its whole role construct, the role and its default policy, so the policy exists before the
    // function first runs; the role half is also implied by the GetAtt of its ARN. Redundant and
    // harmless, and the default policy's half is needed.
    (this.node.defaultChild as CfnFunction).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });

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
   * Items of the broker's table, by kind: GetItem on the kinds in `access.read`, PutItem and
   * DeleteItem on those in `access.write`, PutItem alone on those in `access.put`, each bounded by IAM's `dynamodb:LeadingKeys` condition on
   * the item key's prefix (`token#*`, ...), on that table only; plus what its customer-managed key
   * needs, usable only through DynamoDB. Sets `TABLE_NAME`. Identity-policy statements on this
   * function's role (the key's policy delegates to IAM), so the stateful stack never references
   * the functions.
   * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
   */
  bindTable(table: ITable, access: TableAccess): this {
    const put = access.put ?? [];
    if (access.read.length === 0 && access.write.length === 0 && put.length === 0)
      throw new InvalidPropsError(`${this.node.path}: bindTable needs at least one kind of item`);
    const both = put.filter((kind) => access.read.includes(kind) || access.write.includes(kind));
    if (both.length > 0)
      throw new InvalidPropsError(
        `${this.node.path}: bindTable: ${both.join(', ')} may be put only, or read and written, not both`,
      );
    const statement = (
      sid: string,
      actions: readonly string[],
      kinds: readonly TableItemKind[],
      more: Record<string, Record<string, unknown>> = {},
    ) =>
      new PolicyStatement({
        sid,
        actions: [...actions],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': kinds.map((kind) => tableKeys[kind]('*')) },
          ...more,
        },
      });
    if (access.read.length > 0)
      this.addToRolePolicy(statement('TableReads', TABLE_READ_ACTIONS, access.read));
    if (access.write.length > 0)
      this.addToRolePolicy(statement('TableWrites', TABLE_WRITE_ACTIONS, access.write));
    // Put only, and nothing read back: a PutItem asking for the item it replaced (ReturnValues
    // ALL_OLD) is refused, so a put cannot serve as a read.
    if (put.length > 0)
      this.addToRolePolicy(
        statement('TablePutsOnly', TABLE_PUT_ACTIONS, put, {
          StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
        }),
      );
    if (table.encryptionKey) this.bindKey(table.encryptionKey, 'dynamodb', TABLE_KEY_ACTIONS);
    this.addEnvironment(ENV.table, table.tableName);
    return this;
  }

  /**
   * Read the deployment's connection secrets: GetSecretValue on the secrets whose name starts with
   * `secrets.namePrefix` (one statement, the same size for 2 connections or 200), and kms:Decrypt of
   * their key through Secrets Manager only. Never a write. Sets no variable: the functions find each
   * secret by its deployed name, the `secretId` of the configuration in their code.
   */
  bindConnectionSecrets(secrets: ConnectionSecrets): this {
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*\/$/.test(secrets.namePrefix))
      throw new InvalidPropsError(
        `${this.node.path}: the secret name prefix "${secrets.namePrefix}" must be letters, digits and - ending in /`,
      );
    // Secrets Manager appends 6 random characters to a secret's name in its ARN.
    const resource = Stack.of(this).formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${secrets.namePrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.addToRolePolicy(
      new PolicyStatement({
        sid: 'ConnectionSecrets',
        actions: [...SECRET_READ_ACTIONS],
        resources: [resource],
      }),
    );
    Validations.of(this.executionRole).acknowledge({
      id: wildcardResourceFinding(this, resource),
      reason:
        'The deployment’s connection secrets, by their name prefix: every one is named <prefix>/<secretId> by the stateful stack, no other secret is under that prefix, and the suffix Secrets Manager appends to a secret’s ARN is random, so the names alone need a wildcard. One statement whatever the number of connections (IAM’s 10,240-character limit per role).',
    });
    this.bindKey(secrets.key, 'secretsmanager', ['kms:Decrypt']);
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
    const stack = Stack.of(this);
    const statement = new PolicyStatement({
      sid: service === 'dynamodb' ? 'TableKeyViaDynamoDB' : 'SecretKeyViaSecretsManager',
      actions: [...actions],
      resources: [key.keyArn],
      // The service's endpoint in the stack's partition: `amazonaws.com.cn` in China.
      conditions: { StringEquals: { 'kms:ViaService': `${service}.${stack.region}.${stack.urlSuffix}` } },
    });
    this.keyStatements.set(service, { statement, keys: new Set([key]) });
    this.addToRolePolicy(statement);
  }

  /** Lambda refuses a deployment whose environment passes 4 KB: refuse it at synthesis instead. */
  private checkEnvironmentSize(): string[] {
    const cfn = this.node.defaultChild as CfnFunction;
    const resolved = Stack.of(this).resolve(cfn.environment) as
      | { variables?: Record<string, unknown> }
      | undefined;
    const bytes = environmentBytes(resolved?.variables ?? {});
    if (bytes <= LAMBDA_ENVIRONMENT_LIMIT_BYTES) return [];
    return [
      `the environment of ${this.node.path} would be ${bytes} bytes, over Lambda's limit of ${LAMBDA_ENVIRONMENT_LIMIT_BYTES} (names and values together); put large values in the function's code, as the configuration is`,
    ];
  }
}

/**
 * The size Lambda counts for an environment: every name and value, in bytes. A value
 * CloudFormation fills in at deploy time counts as the longest it can be.
 */
export function environmentBytes(variables: Readonly<Record<string, unknown>>): number {
  let total = 0;
  for (const [name, value] of Object.entries(variables)) {
    total += Buffer.byteLength(name, 'utf8');
    total +=
      typeof value === 'string' && !Token.isUnresolved(value)
        ? Buffer.byteLength(value, 'utf8')
        : DEPLOY_TIME_VALUE_BYTES;
  }
  return total;
}

/**
 * Writes the configuration where the bundling step copies it from: the cloud assembly directory,
 * named by its content, so both functions share one file and a change is a new file.
 */
function stageConfigFile(scope: Construct, config: BrokerConfig): string {
  const text = `${JSON.stringify(config, null, 2)}\n`;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const stage = Stage.of(scope);
  if (!stage) throw new InvalidPropsError(`${scope.node.path}: a BrokerFunction must be inside an App`);
  const dir = join(stage.outdir, 'broker-config');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${hash}.json`);
  writeFileSync(path, text);
  return path;
}

/** A POSIX shell word: single-quoted, with any single quote closed, escaped and reopened. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
