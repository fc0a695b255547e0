import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { BUNDLE_SETTINGS } from '../bundling';

export interface BrokerFunctionProps {
  /** The handler module, e.g. `functions/issue-ticket/handler.ts`. */
  readonly entry: string;
  readonly description: string;
  /** Powertools service name (logs and metrics). */
  readonly serviceName: string;
  /** @default Duration.seconds(15) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * The house Lambda function: Node.js 22 on arm64, bundled locally by esbuild with the settings the
 * tests use (infra/bundling.ts), X-Ray active, its own log group with retention, Powertools set up.
 * `bindTable` and `bindSecret` grant least privilege and set the environment in one call.
 */
export class BrokerFunction extends NodejsFunction {
  public readonly logGroupRef: LogGroup;

  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    if (!props.entry.endsWith('.ts'))
      throw new Error(`BrokerFunction ${id}: entry must be a TypeScript module`);
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(15),
      tracing: Tracing.ACTIVE,
      logGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: 'TicketBroker',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
      bundling: {
        format: BUNDLE_SETTINGS.format === 'cjs' ? OutputFormat.CJS : OutputFormat.ESM,
        mainFields: [...BUNDLE_SETTINGS.mainFields],
        minify: BUNDLE_SETTINGS.minify,
        sourceMap: BUNDLE_SETTINGS.sourcemap,
        target: BUNDLE_SETTINGS.target,
        externalModules: [...BUNDLE_SETTINGS.externalModules],
        // Local esbuild only: synth needs no Docker and no network.
        forceDockerBundling: false,
      },
    });
    this.logGroupRef = logGroup;
    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-L1',
        reason:
          'The design fixes the runtime to Node.js 22 (the code and its tests run on Node 22); moving to a newer runtime is a deliberate upgrade.',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'AWS-maintained policy granting only CloudWatch Logs writes, the minimum every function needs.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray PutTraceSegments/PutTelemetryRecords accept only "*" as resource (active tracing).',
      },
    );
  }

  /**
   * Read/write items of the broker's table: exactly the item actions the functions use, on that
   * table only, plus the key actions its customer-managed key needs; sets TABLE_NAME. Written as
   * identity-policy statements on this function's role (the key's policy delegates to IAM), so the
   * stateful stack never references the functions.
   */
  bindTable(table: ITable, key: IKey): this {
    this.addToRolePolicy(
      new PolicyStatement({
        sid: 'TableItems',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
        resources: [table.tableArn],
      }),
    );
    this.addToRolePolicy(this.keyStatement(key));
    this.addEnvironment('TABLE_NAME', table.tableName);
    return this;
  }

  /** Read one connection's secret (GetSecretValue, DescribeSecret on that secret only); never write. */
  bindSecret(secret: ISecret): this {
    this.secretArns.push(secret.secretArn);
    if (!this.secretStatement) {
      this.secretStatement = new PolicyStatement({
        sid: 'ConnectionSecrets',
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: this.secretArns,
      });
      this.addToRolePolicy(this.secretStatement);
    } else {
      this.secretStatement.addResources(secret.secretArn);
    }
    if (secret.encryptionKey) this.addToRolePolicy(this.keyStatement(secret.encryptionKey));
    return this;
  }

  private readonly secretArns: string[] = [];
  private secretStatement: PolicyStatement | undefined;
  private readonly keyStatements = new Map<IKey, PolicyStatement>();

  private keyStatement(key: IKey): PolicyStatement {
    let statement = this.keyStatements.get(key);
    if (!statement) {
      statement = new PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
      });
      this.keyStatements.set(key, statement);
    }
    return statement;
  }
}
