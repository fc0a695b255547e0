import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { ApiMapping, DomainName, HttpApi, HttpMethod, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { Alarm, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Alias, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { BrokerConfig } from '../shared/config/schema';
import { API_ROUTES } from '../shared/http/routes';
import { SERVICE_NAMES } from '../shared/runtime/environment';
import { REFRESH_RUN_TIMEOUT_SECONDS, REFRESH_SCHEDULE_MINUTES } from '../shared/runtime/schedule';
import { FUNCTION_ENTRIES } from './bundling';
import { LogGroupAccessLogDestination } from './constructs/access-log-destination';
import { BrokerFunction, type ConnectionSecrets } from './constructs/broker-function';
import { BrokerMonitoring } from './constructs/broker-monitoring';
import { InvalidPropsError } from './errors';
import { checkPrefix, DEFAULT_PREFIX, deployedConfig, metricsNamespaceOf } from './names';

/** Stage-wide throttling of the HTTP API. */
export interface ThrottleSettings {
  /** Steady-state requests per second for the whole API. */
  readonly rateLimit: number;
  /** Requests allowed in a burst above the rate. */
  readonly burstLimit: number;
}

/** The API on a custom domain, beside its default endpoint. */
export interface CustomDomainSettings {
  /** e.g. `broker.example.com`. */
  readonly domainName: string;
  /** An ACM certificate for that name, in the stack's region (a regional endpoint). */
  readonly certificateArn: string;
  /**
   * The API mapping's path: the API answers under `https://<domainName>/<path>/v1/...`.
   * @default - the domain's root
   */
  readonly path?: string;
}

export const DEFAULT_THROTTLE: ThrottleSettings = { rateLimit: 50, burstLimit: 100 };

export interface StatelessStackProps extends StackProps {
  /**
   * The validated configuration. The functions get it in their code, with each `secretId` replaced
   * by the deployed secret's name (`<connectionSecrets.namePrefix><secretId>`).
   */
  readonly config: BrokerConfig;
  /** The broker table (from the stateful stack); its customer-managed key comes with it. */
  readonly table: ITable;
  /**
   * Where the deployment's connection secrets are (from the stateful stack): the functions may read
   * the secrets under this name prefix, and no other.
   */
  readonly connectionSecrets: ConnectionSecrets;
  /** The deployment prefix, carried by every physical name. @default DEFAULT_PREFIX ('TicketBroker') */
  readonly namePrefix?: string;
  /** @default DEFAULT_THROTTLE ({ rateLimit: 50, burstLimit: 100 }) */
  readonly throttle?: ThrottleSettings;
  /**
   * Provisioned concurrency of the ticket function: the API then calls its `live` alias, which
   * keeps this many environments initialised. @default - none (on-demand only)
   */
  readonly provisionedConcurrency?: number;
  /** Serve the API on a custom domain too. @default - the default endpoint only */
  readonly customDomain?: CustomDomainSettings;
  /** p99 duration of the ticket function above this raises the latency alarm. @default Duration.seconds(2) */
  readonly ticketLatencyThreshold?: Duration;
  /** Retention of the functions' logs and the API access log. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** An address subscribed (after confirming) to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
}

const TICKET_FUNCTION_TIMEOUT = Duration.seconds(15);
/** Lambda's own cap per function is the account's concurrency; this guards against a typo. */
const MAX_PROVISIONED_CONCURRENCY = 1000;

/**
 * What can be replaced at will: the two functions, the HTTP API (optionally on a custom domain), the
 * one-minute refresh schedule with its dead-letter queue, the alarms, their topic and the
 * dashboard. The stateful resources come in as typed props and are only referenced, never changed.
 */
export class StatelessStack extends Stack {
  public readonly issueTicket: BrokerFunction;
  /** What the API invokes: the ticket function, or its `live` alias with provisioned concurrency. */
  public readonly apiTarget: IFunction;
  public readonly refreshTokens: BrokerFunction;
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  public readonly accessLogs: LogGroup;
  public readonly domainName: DomainName | undefined;
  public readonly refreshSchedule: Rule;
  /** Receives refresh events EventBridge could not deliver and refresher runs that failed. */
  public readonly deadLetterQueue: Queue;
  public readonly alarmTopic: Topic;
  public readonly alarms: readonly Alarm[];
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const prefix = checkPrefix(props.namePrefix ?? DEFAULT_PREFIX);
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
    const concurrency = props.provisionedConcurrency;
    if (
      concurrency !== undefined &&
      !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= MAX_PROVISIONED_CONCURRENCY)
    )
      throw new InvalidPropsError(
        `${id}: provisionedConcurrency must be an integer from 1 to ${MAX_PROVISIONED_CONCURRENCY}`,
      );
    if (props.customDomain) checkCustomDomain(id, props.customDomain);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const config = deployedConfig(props.config, props.connectionSecrets.namePrefix);
    const metricsNamespace = metricsNamespaceOf(prefix);

    // Both functions serve every configured connection, with least privilege on the table by kind of
    // item: only the operators' `callers` command writes caller# items (and reads audit# ones).
    this.issueTicket = new BrokerFunction(this, 'IssueTicket', {
      entry: FUNCTION_ENTRIES.issueTicket,
      description: 'ticket-broker HTTP API: embed tickets, vendable tokens, status',
      serviceName: SERVICE_NAMES.issueTicket,
      config,
      metricsNamespace,
      timeout: TICKET_FUNCTION_TIMEOUT,
      logRetention,
    })
      .bindTable(props.table, {
        read: ['caller', 'token', 'lease', 'status'],
        write: ['token', 'lease'],
        // Audit records and last uses are only ever added or replaced by this function: it can
        // neither read, update nor delete one (docs/security.md).
        put: ['audit', 'lastUsed'],
      })
      .bindConnectionSecrets(props.connectionSecrets);

    this.refreshTokens = new BrokerFunction(this, 'RefreshTokens', {
      entry: FUNCTION_ENTRIES.refreshTokens,
      description: 'ticket-broker scheduled refresher: keeps every upstream token warm',
      serviceName: SERVICE_NAMES.refreshTokens,
      config,
      metricsNamespace,
      // Under the one-minute period, so runs do not pile up.
      timeout: Duration.seconds(REFRESH_RUN_TIMEOUT_SECONDS),
      logRetention,
    })
      .bindTable(props.table, { read: ['token', 'lease'], write: ['token', 'lease', 'status'] })
      .bindConnectionSecrets(props.connectionSecrets);

    this.apiTarget =
      concurrency === undefined
        ? this.issueTicket
        : new Alias(this, 'IssueTicketLive', {
            aliasName: 'live',
            version: this.issueTicket.currentVersion,
            provisionedConcurrentExecutions: concurrency,
          });

    // The HTTP API: the route table's routes (shared/http/routes.ts), all served by the ticket
    // function, plus `ANY /{proxy+}` and `$default` to the same function, so unknown routes and
    // methods (and `/`) get its problem+json 404/405, not API Gateway's body.
    const integration = new HttpLambdaIntegration('IssueTicketIntegration', this.apiTarget);
    this.api = new HttpApi(this, 'Api', {
      apiName: `${prefix}-ticket-broker`,
      description: `ticket-broker v1 (${prefix})`,
      createDefaultStage: false,
      defaultIntegration: integration,
    });
    for (const route of API_ROUTES)
      this.api.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    this.api.addRoutes({ path: '/{proxy+}', methods: [HttpMethod.ANY], integration });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Callers authenticate with scoped bearer caller keys (tb_<keyId>_<secret>), verified by the function against a SHA-256 hash in constant time before any other work; /v1/health is public by design. An API Gateway authorizer would add a second lookup per request for no added check.',
    });

    // Under /aws/vendedlogs/: the log group policy API Gateway's log delivery needs stays one
    // wildcard statement however many such groups the account has.
    this.accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      logGroupName: `/aws/vendedlogs/ticket-broker/${prefix}/api-access`,
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupAccessLogDestination(this.accessLogs),
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

    this.domainName = undefined;
    if (props.customDomain) {
      const { domainName, certificateArn, path } = props.customDomain;
      this.domainName = new DomainName(this, 'CustomDomain', {
        domainName,
        certificate: Certificate.fromCertificateArn(this, 'CustomDomainCertificate', certificateArn),
      });
      new ApiMapping(this, 'CustomDomainMapping', {
        api: this.api,
        domainName: this.domainName,
        stage: this.stage,
        ...(path ? { apiMappingKey: path } : {}),
      });
    }

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
      // A failed run is not retried: it goes to the dead-letter queue, and the next scheduled run,
      // a minute later, tries again from scratch.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(2),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    this.refreshSchedule = new Rule(this, 'RefreshSchedule', {
      description: 'ticket-broker: renew tokens inside their refresh window',
      schedule: Schedule.rate(Duration.minutes(REFRESH_SCHEDULE_MINUTES)),
      targets: [
        new LambdaFunction(this.refreshTokens, {
          // Retries of EventBridge's delivery (throttled or unavailable Lambda), not of failed runs.
          retryAttempts: 2,
          maxEventAge: Duration.minutes(2),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });

    const monitoring = new BrokerMonitoring(this, 'Monitoring', {
      prefix,
      metricsNamespace,
      issueTicket: this.issueTicket,
      refreshTokens: this.refreshTokens,
      refreshTimeout: Duration.seconds(REFRESH_RUN_TIMEOUT_SECONDS),
      api: this.api,
      deadLetterQueue: this.deadLetterQueue,
      ticketLatencyThreshold: latencyThreshold,
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
    });
    this.alarmTopic = monitoring.alarmTopic;
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;

    this.addOutputs(props);
  }

  private addOutputs(props: StatelessStackProps): void {
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.apiEndpoint,
      description: 'Base URL of the broker API (routes under /v1)',
    });
    if (this.domainName && props.customDomain) {
      const path = props.customDomain.path ? `/${props.customDomain.path}` : '';
      new CfnOutput(this, 'CustomDomainUrl', {
        value: `https://${props.customDomain.domainName}${path}`,
        description: 'Base URL of the broker API on the custom domain (routes under /v1)',
      });
      new CfnOutput(this, 'CustomDomainTarget', {
        value: this.domainName.regionalDomainName,
        description: 'Point the custom domain at this name (a CNAME, or a Route 53 alias)',
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'SNS topic of the alarms: subscribe your paging or chat integration',
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: this.deadLetterQueue.queueUrl,
      description: 'The refresh dead-letter queue (README "Operations": inspect and purge)',
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.dashboard.dashboardName,
      description: 'The CloudWatch dashboard',
    });
  }
}

/** A custom domain the stack can build: a host name, an ACM certificate ARN, a valid mapping path. */
function checkCustomDomain(stackId: string, domain: CustomDomainSettings): void {
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(domain.domainName))
    throw new InvalidPropsError(`${stackId}: domainName "${domain.domainName}" is not a DNS name`);
  if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/.test(domain.certificateArn))
    throw new InvalidPropsError(
      `${stackId}: certificateArn "${domain.certificateArn}" is not an ACM certificate ARN`,
    );
  // API Gateway's API mapping keys: letters, digits and $-_.+!*'() per level, levels joined by /.
  if (domain.path !== undefined && !/^[A-Za-z0-9$_.+!*'()-]+(\/[A-Za-z0-9$_.+!*'()-]+)*$/.test(domain.path))
    throw new InvalidPropsError(
      `${stackId}: domain path "${domain.path}" may hold only letters, digits and $-_.+!*'(), levels joined by /`,
    );
}
