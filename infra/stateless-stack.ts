import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { BrokerConfig } from '../shared/config/schema';
import { FUNCTION_ENTRIES } from './bundling';
import { BrokerFunction } from './constructs/broker-function';
import { InvalidPropsError } from './errors';

/** The routes of docs/design.md "HTTP API (v1)", all served by the ticket function. */
export const API_ROUTES: readonly { readonly path: string; readonly method: HttpMethod }[] = [
  { path: '/v1/tickets', method: HttpMethod.POST },
  { path: '/v1/connections/{id}/token', method: HttpMethod.POST },
  { path: '/v1/connections/{id}/status', method: HttpMethod.GET },
  { path: '/v1/health', method: HttpMethod.GET },
];

/** Stage-wide throttling of the HTTP API. */
export interface ThrottleSettings {
  /** Steady-state requests per second for the whole API. */
  readonly rateLimit: number;
  /** Requests allowed in a burst above the rate. */
  readonly burstLimit: number;
}

export interface StatelessStackProps extends StackProps {
  /** The validated configuration, handed to both functions as `BROKER_CONFIG`. */
  readonly config: BrokerConfig;
  /** The broker table (from the stateful stack); its customer-managed key comes with it. */
  readonly table: ITable;
  /**
   * The secret of each configured connection, by connection id (from the stateful stack). The
   * functions may read exactly the secrets of the configured connections; other entries are ignored.
   */
  readonly secrets: Readonly<Record<string, ISecret>>;
  /** @default { rateLimit: 50, burstLimit: 100 } */
  readonly throttle?: ThrottleSettings;
  /** p99 duration of the ticket function above this raises the latency alarm. @default Duration.seconds(2) */
  readonly ticketLatencyThreshold?: Duration;
  /** Retention of the functions' logs and the API access log. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** An address subscribed (after confirming) to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /**
   * The configuration file the app was synthesized from, repeated in the printed `callers`
   * command so it checks connection ids against the same file. @default 'config/connections.json'
   */
  readonly configPath?: string;
}

/** The secret's JSON shape (SECRET_VALUE_SHAPE) with placeholders an operator replaces. */
const PUT_SECRET_PLACEHOLDER = '{"clientId":"<client id>","clientSecret":"<client secret>"}';
const DEFAULT_THROTTLE: ThrottleSettings = { rateLimit: 50, burstLimit: 100 };
const DEFAULT_CONFIG_PATH = 'config/connections.json';
const TICKET_FUNCTION_TIMEOUT = Duration.seconds(15);

/**
 * What can be replaced at will: the two functions, the HTTP API, the one-minute refresh schedule
 * with its dead-letter queue, the alarms and their topic. The stateful resources come in as typed
 * props and are only referenced, never changed.
 */
export class StatelessStack extends Stack {
  public readonly issueTicket: BrokerFunction;
  public readonly refreshTokens: BrokerFunction;
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  public readonly accessLogs: LogGroup;
  public readonly refreshSchedule: Rule;
  /** Receives refresh events EventBridge could not deliver and refresher runs that failed. */
  public readonly deadLetterQueue: Queue;
  public readonly alarmTopic: Topic;
  public readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const throttle = props.throttle ?? DEFAULT_THROTTLE;
    if (!(throttle.rateLimit > 0) || !Number.isInteger(throttle.burstLimit) || throttle.burstLimit < 1)
      throw new InvalidPropsError(`${id}: throttle needs rateLimit > 0 and an integer burstLimit >= 1`);
    const latencyThreshold = props.ticketLatencyThreshold ?? Duration.seconds(2);
    if (
      latencyThreshold.toMilliseconds() <= 0 ||
      latencyThreshold.toMilliseconds() >= TICKET_FUNCTION_TIMEOUT.toMilliseconds()
    )
      throw new InvalidPropsError(
        `${id}: ticketLatencyThreshold must be above 0 and below the ticket function's timeout`,
      );
    if (props.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alarmEmail))
      throw new InvalidPropsError(`${id}: alarmEmail "${props.alarmEmail}" is not an email address`);
    const outputIds = outputIdsOf(id, Object.keys(props.config.connections));
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    // Both functions serve every configured connection: the table, and each connection's secret.
    this.issueTicket = new BrokerFunction(this, 'IssueTicket', {
      entry: FUNCTION_ENTRIES.issueTicket,
      description: 'ticket-broker HTTP API: embed tickets, vendable tokens, status',
      serviceName: 'issue-ticket',
      timeout: TICKET_FUNCTION_TIMEOUT,
      logRetention,
    })
      .bindTable(props.table)
      .bindConnections(props.config, props.secrets);

    this.refreshTokens = new BrokerFunction(this, 'RefreshTokens', {
      entry: FUNCTION_ENTRIES.refreshTokens,
      description: 'ticket-broker scheduled refresher: keeps every upstream token warm',
      serviceName: 'refresh-tokens',
      // Under the one-minute period, so runs do not pile up.
      timeout: Duration.seconds(50),
      logRetention,
    })
      .bindTable(props.table)
      .bindConnections(props.config, props.secrets);

    // The HTTP API: the documented routes, plus `ANY /{proxy+}` and `$default` to the same function,
    // so unknown routes and methods (and `/`) get its problem+json 404/405, not API Gateway's body.
    const integration = new HttpLambdaIntegration('IssueTicketIntegration', this.issueTicket);
    this.api = new HttpApi(this, 'Api', {
      description: 'ticket-broker v1',
      createDefaultStage: false,
      defaultIntegration: integration,
    });
    for (const route of API_ROUTES)
      this.api.addRoutes({ path: route.path, methods: [route.method], integration });
    this.api.addRoutes({ path: '/{proxy+}', methods: [HttpMethod.ANY], integration });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Callers authenticate with scoped bearer caller keys (tb_<keyId>_<secret>), verified by the function against a SHA-256 hash in constant time before any other work; /v1/health is public by design. An API Gateway authorizer would add a second lookup per request for no added check.',
    });

    this.accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        // Context variables only: no header (never the Authorization header), no body.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            integrationStatus: '$context.integrationStatus',
            responseLength: '$context.responseLength',
          }),
        ),
      },
    });

    // The schedule: every minute, with delivery retries and a dead-letter queue. Failed runs (the
    // refresher throws when a connection is left with no usable token) land in the same queue.
    this.deadLetterQueue = new Queue(this, 'RefreshDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the refresh schedule (undeliverable events) and of the refresher’s asynchronous invocations (failed runs); nothing consumes it automatically.',
    });
    this.refreshTokens.configureAsyncInvoke({
      // The next run, a minute later, is the retry; a failed run is recorded, not repeated.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(2),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    this.refreshSchedule = new Rule(this, 'RefreshSchedule', {
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

    // No KMS key on the topic: notifications carry alarm names and states only, and CloudWatch cannot
    // publish to a topic under the AWS-managed SNS key. Publishing requires TLS.
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: 'ticket-broker alarms',
      enforceSSL: true,
    });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.alarms = [
      new Alarm(this, 'RefresherErrors', {
        alarmDescription:
          'The refresher failed in 2 of the last 3 minutes: a connection has no usable token or cannot renew (check its secret and the partner).',
        metric: this.refreshTokens.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'RefreshDeadLetterDepth', {
        alarmDescription: 'Refresh events or failed refresher runs are in the dead-letter queue (depth > 0).',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'Api5xx', {
        alarmDescription:
          'The API answered 5 or more 5xx in 5 minutes (partner down, a misconfigured connection, or a bug).',
        metric: this.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'TicketLatency', {
        alarmDescription: `p99 duration of the ticket function above ${latencyThreshold.toMilliseconds()} ms for 10 minutes.`,
        metric: this.issueTicket.metricDuration({ period: Duration.minutes(5), statistic: 'p99' }),
        threshold: latencyThreshold.toMilliseconds(),
        evaluationPeriods: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
    const notify = new SnsAction(this.alarmTopic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    this.addOutputs(props, outputIds);
  }

  private addOutputs(props: StatelessStackProps, outputIds: ReadonlyMap<string, string>): void {
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.apiEndpoint,
      description: 'Base URL of the broker API (routes under /v1)',
    });
    new CfnOutput(this, 'TableName', {
      value: props.table.tableName,
      description: 'The broker table (callers, tokens, leases, refresh status)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'SNS topic of the four alarms: subscribe your paging or chat integration',
    });
    for (const [connection, outputId] of outputIds) {
      const secret = props.secrets[connection];
      if (!secret) continue; // bindConnections has already refused a missing secret
      new CfnOutput(this, `SecretArn${outputId}`, {
        value: secret.secretArn,
        description: `Secret of connection "${connection}"`,
      });
      new CfnOutput(this, `PutSecretCommand${outputId}`, {
        description: `Put the client credentials of connection "${connection}"`,
        value: `aws secretsmanager put-secret-value --region ${Aws.REGION} --secret-id ${secret.secretArn} --secret-string '${PUT_SECRET_PLACEHOLDER}'`,
      });
    }

    const connections = Object.entries(props.config.connections);
    const configFlag =
      props.configPath && props.configPath !== DEFAULT_CONFIG_PATH ? ` --config ${props.configPath}` : '';
    const prefix = `AWS_REGION=${Aws.REGION} TABLE_NAME=${props.table.tableName} npm run callers -- create`;
    const ticketConnection = connections.find(([, c]) => c.kind === 'astrato-oem')?.[0];
    const [firstConnection] = Object.keys(props.config.connections);
    new CfnOutput(this, 'CreateCallerCommand', {
      description: 'Create the first caller, for embed tickets (prints its key once)',
      value: `${prefix} --name "<saas app>" --connection ${ticketConnection ?? firstConnection}${
        ticketConnection ? ' --groups <group-id,...> --email-domains <example.com>' : ''
      }${configFlag}`,
    });
    const vendable = connections.find(([, c]) => c.kind === 'oauth2-client-credentials' && c.vendable)?.[0];
    if (vendable) {
      new CfnOutput(this, 'CreateTokenCallerCommand', {
        description: `Create a caller that may read the vendable tokens of "${vendable}" (prints its key once)`,
        value: `${prefix} --name "<backend>" --connection ${vendable} --tokens --no-tickets${configFlag}`,
      });
    }
  }
}

/** Output ids per connection (`SecretArn<Id>`): alphanumeric and distinct. */
function outputIdsOf(stackId: string, connections: readonly string[]): ReadonlyMap<string, string> {
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
