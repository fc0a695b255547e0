import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { BrokerConfig } from '../shared/config/schema';
import { FUNCTION_ENTRIES } from './bundling';
import { BrokerFunction } from './constructs/broker-function';

export interface ThrottleSettings {
  /** Steady-state requests per second for the whole API. */
  readonly rateLimit: number;
  readonly burstLimit: number;
}

export interface StatelessStackProps extends StackProps {
  readonly config: BrokerConfig;
  /** From the stateful stack. */
  readonly table: ITable;
  readonly key: IKey;
  /** The secret of each configured connection, by connection id. */
  readonly secrets: Readonly<Record<string, ISecret>>;
  /** @default { rateLimit: 50, burstLimit: 100 } */
  readonly throttle?: ThrottleSettings;
  /** p99 ticket latency above this raises the latency alarm. @default Duration.seconds(2) */
  readonly ticketLatencyThreshold?: Duration;
}

/**
 * What can be replaced at will: the two functions, the HTTP API, the refresh schedule with its
 * dead-letter queue, the alarms. Stateful resources come in as typed props.
 */
export class StatelessStack extends Stack {
  public readonly api: HttpApi;
  public readonly issueTicket: BrokerFunction;
  public readonly refreshTokens: BrokerFunction;
  public readonly deadLetterQueue: Queue;
  public readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const missing = Object.keys(props.config.connections).filter((connection) => !props.secrets[connection]);
    if (missing.length > 0)
      throw new Error(`StatelessStack: no secret for connection(s) ${missing.join(', ')}`);
    const environment = { BROKER_CONFIG: JSON.stringify(props.config) };

    this.issueTicket = new BrokerFunction(this, 'IssueTicket', {
      entry: FUNCTION_ENTRIES.issueTicket,
      description: 'ticket-broker HTTP API: embed tickets, vendable tokens, status',
      serviceName: 'issue-ticket',
      timeout: Duration.seconds(15),
      environment,
    }).bindTable(props.table, props.key);

    this.refreshTokens = new BrokerFunction(this, 'RefreshTokens', {
      entry: FUNCTION_ENTRIES.refreshTokens,
      description: 'ticket-broker scheduled refresher: keeps every upstream token warm',
      serviceName: 'refresh-tokens',
      timeout: Duration.seconds(50),
      environment,
    }).bindTable(props.table, props.key);

    for (const secret of Object.values(props.secrets)) {
      this.issueTicket.bindSecret(secret);
      this.refreshTokens.bindSecret(secret);
    }

    // The HTTP API: the documented routes, and a catch-all so that unknown routes and methods get
    // the function's problem+json (404/405) rather than API Gateway's own body.
    this.api = new HttpApi(this, 'Api', {
      description: 'ticket-broker v1',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('IssueTicketIntegration', this.issueTicket);
    const routes: [string, HttpMethod][] = [
      ['/v1/tickets', HttpMethod.POST],
      ['/v1/connections/{id}/token', HttpMethod.POST],
      ['/v1/connections/{id}/status', HttpMethod.GET],
      ['/v1/health', HttpMethod.GET],
      ['/{proxy+}', HttpMethod.ANY],
    ];
    for (const [path, method] of routes) this.api.addRoutes({ path, methods: [method], integration });

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: RetentionDays.ONE_MONTH });
    const throttle = props.throttle ?? { rateLimit: 50, burstLimit: 100 };
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // No Authorization header or body: never a caller key in the access log.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            responseLength: '$context.responseLength',
          }),
        ),
      },
    });
    (stage.node.defaultChild as CfnStage).addPropertyOverride(
      'DefaultRouteSettings.DetailedMetricsEnabled',
      true,
    );
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Callers authenticate with scoped bearer caller keys, verified by the function (SHA-256, constant time) before any other work; /v1/health is public by design.',
    });

    // The schedule: every minute, with delivery retries and a dead-letter queue; failed runs
    // (the refresher throws when a connection has no usable token) land in the same queue.
    this.deadLetterQueue = new Queue(this, 'RefreshDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the refresh schedule and of the refresher.',
    });
    this.refreshTokens.configureAsyncInvoke({
      retryAttempts: 0, // the next run, one minute later, is the retry
      maxEventAge: Duration.minutes(2),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    new Rule(this, 'RefreshSchedule', {
      description: 'ticket-broker: renew tokens inside their refresh window',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [
        new LambdaFunction(this.refreshTokens, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(2),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });

    this.alarms = [
      new Alarm(this, 'RefresherErrors', {
        alarmDescription:
          'The refresher failed in 2 of the last 3 minutes: a connection has no usable token or cannot renew.',
        metric: this.refreshTokens.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'RefreshDeadLetterDepth', {
        alarmDescription: 'Refresh runs landed in the dead-letter queue.',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'Api5xx', {
        alarmDescription:
          'The API answered 5 or more 5xx in 5 minutes (upstream down, misconfiguration, or a bug).',
        metric: this.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'TicketLatency', {
        alarmDescription: 'p99 latency of the ticket function over 5 minutes is above the threshold.',
        metric: this.issueTicket.metricDuration({ period: Duration.minutes(5), statistic: 'p99' }),
        threshold: (props.ticketLatencyThreshold ?? Duration.seconds(2)).toMilliseconds(),
        evaluationPeriods: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.apiEndpoint,
      description: 'Base URL of the broker API (routes under /v1)',
    });
    new CfnOutput(this, 'TableName', {
      value: props.table.tableName,
      description: 'The broker table (callers, tokens, status)',
    });
    for (const [connection, secret] of Object.entries(props.secrets)) {
      const name = connection.replace(/[^A-Za-z0-9]/g, '');
      new CfnOutput(this, `SecretArn${name}`, {
        value: secret.secretArn,
        description: `Secret of connection "${connection}"`,
      });
      new CfnOutput(this, `PutSecretCommand${name}`, {
        description: `Put the client credentials of connection "${connection}"`,
        value: `aws secretsmanager put-secret-value --secret-id ${secret.secretArn} --secret-string '{"clientId":"<client id>","clientSecret":"<client secret>"}'`,
      });
    }
    const ticketConnection = Object.entries(props.config.connections).find(
      ([, c]) => c.kind === 'astrato-oem',
    )?.[0];
    new CfnOutput(this, 'CreateCallerCommand', {
      description: 'Create the first caller (prints its key once)',
      value: `TABLE_NAME=${props.table.tableName} npm run callers -- create --name "<saas app>" --connection ${
        ticketConnection ?? Object.keys(props.config.connections)[0]
      } --groups <group ids> --email-domains <domain>`,
    });
  }
}
