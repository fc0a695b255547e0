import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AUDIT_NOT_STORED_METRIC } from '../../shared/audit/audit-trail';
import { DEPENDENCY_NAMES, unavailableMetric } from '../../shared/dependency-guard';
import { PROBLEM_CODES } from '../../shared/http/problem';
import { SERVICE_NAMES } from '../../shared/runtime/environment';

export interface BrokerMonitoringProps {
  /** Alarm names are `<prefix>-<alarm>`, the dashboard `<prefix>-<region>`. */
  readonly prefix: string;
  /** The namespace the functions write their metrics to. */
  readonly metricsNamespace: string;
  readonly issueTicket: IFunction;
  readonly refreshTokens: IFunction;
  /** The refresher's timeout: its run time is graphed against it. */
  readonly refreshTimeout: Duration;
  readonly api: HttpApi;
  /** The refresh schedule's dead-letter queue (also the refresher's failed-run destination). */
  readonly deadLetterQueue: IQueue;
  /** p99 duration of the ticket function above this raises the latency alarm. */
  readonly ticketLatencyThreshold: Duration;
  /** An address subscribed (after confirming) to the alarm topic. @default - none */
  readonly alarmEmail?: string;
}

/**
 * What tells a platform team how the broker is doing: the alarms (each notifying one SNS topic on
 * ALARM and OK, each described by what it watches), the topic (TLS only, and CloudWatch allowed to
 * publish to it) and the dashboard.
 */
export class BrokerMonitoring extends Construct {
  public readonly alarmTopic: Topic;
  public readonly alarms: readonly Alarm[];
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: BrokerMonitoringProps) {
    super(scope, id);
    const { prefix } = props;
    const custom = (metricName: string, service: string, statistic: string, label?: string) =>
      new Metric({
        namespace: props.metricsNamespace,
        metricName,
        dimensionsMap: { service },
        statistic,
        period: Duration.minutes(1),
        ...(label ? { label } : {}),
      });
    // Per-connection series (dimensions service and connection): one line per connection that has
    // one. Only a failing connection writes such a series, and only while it fails, so a healthy
    // deployment pays for no series per connection.
    const perConnection = (metricName: string, service: string, label: string) =>
      new MathExpression({
        expression: `SEARCH('{${props.metricsNamespace},connection,service} MetricName="${metricName}" service="${service}"', 'Sum', 60)`,
        label,
        period: Duration.minutes(1),
        usingMetrics: {},
      });

    // Either function's series (dimension service): one line per function that wrote it.
    const perService = (metricName: string, label: string) =>
      new MathExpression({
        expression: `SEARCH('{${props.metricsNamespace},service} MetricName="${metricName}"', 'Sum', 60)`,
        label,
        period: Duration.minutes(1),
        usingMetrics: {},
      });

    // No KMS key on the topic: notifications carry alarm names and states only, and CloudWatch cannot
    // publish to a topic under the AWS-managed SNS key. Publishing requires TLS.
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: `ticket-broker ${prefix} alarms`,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, which is what let CloudWatch publish: allow this
    // account's alarms of this deployment explicitly.
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: `${prefix}-*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    const latencyMs = props.ticketLatencyThreshold.toMilliseconds();
    const alarm = (alarmId: string, description: string, options: AlarmOptions) =>
      new Alarm(this, alarmId, {
        alarmName: `${prefix}-${alarmId}`,
        alarmDescription: description,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        ...options,
      });
    this.alarms = [
      alarm(
        'RefresherFailing',
        'Lambda Errors (Sum) of the refresher >= 1 in 2 of the last 3 minutes: its runs fail, which happens when a connection is left with no usable token (requests to it fail now), a run could not reach every connection before its deadline, or a run crashes. Runbook: README "Operations".',
        {
          metric: props.refreshTokens.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        },
      ),
      alarm(
        'RenewalFailing',
        'RefreshFailedConnections (Maximum) >= 1 in each of the last 3 minutes: the refresher could not renew (or probe) a connection\'s token, or could not reach a connection before its run\'s deadline, in 3 runs in a row. Early warning: requests still use the current token until it expires. Runbook: README "Operations".',
        {
          metric: custom('RefreshFailedConnections', SERVICE_NAMES.refreshTokens, 'Maximum'),
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 3,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        },
      ),
      alarm(
        'RefreshDeadLetters',
        'NumberOfMessagesSent (Sum) to the refresh dead-letter queue >= 1 in the last 5 minutes: new failed refresher runs or undeliverable schedule events. Clears 5 minutes after the last one; the messages stay in the queue for inspection. Runbook: README "Operations".',
        {
          metric: props.deadLetterQueue.metricNumberOfMessagesSent({
            period: Duration.minutes(5),
            statistic: 'Sum',
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        },
      ),
      alarm(
        'Api5xx',
        'API Gateway 5xx (Sum) >= 5 in 5 minutes: the API answered 5xx (partner down, a misconfigured connection, or a bug). Runbook: README "Operations".',
        {
          metric: props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 5,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        },
      ),
      alarm(
        'AuditRecordsNotStored',
        `${AUDIT_NOT_STORED_METRIC} (Sum) of the ticket function >= 1 in 5 minutes: audit records the table could not take (unreachable, backed off or throttled); the requests were served and each record is whole in an ERROR line of the function's log ("audit record not stored"), kept only as long as the logs. Runbook: README "Operations".`,
        {
          metric: custom(AUDIT_NOT_STORED_METRIC, SERVICE_NAMES.issueTicket, 'Sum').with({
            period: Duration.minutes(5),
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        },
      ),
      alarm(
        'TicketLatency',
        `Lambda Duration (p99) of the ticket function > ${latencyMs} ms in 2 consecutive 5-minute periods (all its routes: tickets, tokens, status, health). Runbook: README "Operations".`,
        {
          metric: props.issueTicket.metricDuration({ period: Duration.minutes(5), statistic: 'p99' }),
          threshold: latencyMs,
          evaluationPeriods: 2,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        },
      ),
    ];
    const notify = new SnsAction(this.alarmTopic);
    for (const each of this.alarms) {
      each.addAlarmAction(notify);
      each.addOkAction(notify);
    }

    const ticket = SERVICE_NAMES.issueTicket;
    const refresher = SERVICE_NAMES.refreshTokens;
    const graph = (title: string, left: IMetric[], width = 12) =>
      new GraphWidget({ title, left, width, height: 6 });
    // Dashboards are global, not regional: the region keeps two regions' dashboards apart.
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${prefix}-${Stack.of(this).region}`,
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new TextWidget({
            markdown: `# ticket-broker ${prefix}\nCreated by the CDK app; edits in the console are lost on the next deploy. Alarms and what to do: README "Operations".`,
            width: 24,
            height: 2,
          }),
        ],
        [new AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms], width: 24, height: 3 })],
        [
          graph('Tickets and vended tokens per minute', [
            custom('TicketsIssued', ticket, 'Sum', 'tickets'),
            custom('TokensVended', ticket, 'Sum', 'vended tokens'),
          ]),
          graph(
            'Errors by code per minute',
            PROBLEM_CODES.map((code) => custom(`Errors_${code}`, ticket, 'Sum', code)),
          ),
        ],
        [
          graph('Ticket function duration, p50 and p99 (all routes)', [
            props.issueTicket.metricDuration({ period: Duration.minutes(1), statistic: 'p50', label: 'p50' }),
            props.issueTicket.metricDuration({ period: Duration.minutes(1), statistic: 'p99', label: 'p99' }),
          ]),
          graph('Astrato /oem/setup latency, p50 and p99', [
            custom('SetupLatency', ticket, 'p50', 'p50'),
            custom('SetupLatency', ticket, 'p99', 'p99'),
          ]),
        ],
        [
          graph('Where requests got their token, per minute', [
            custom('TokenCacheHitL1', ticket, 'Sum', 'memory'),
            custom('TokenCacheHitL2', ticket, 'Sum', 'table'),
            custom('TokenAcquired', ticket, 'Sum', 'acquired'),
            custom('TokenLeaseWait', ticket, 'SampleCount', 'waited'),
          ]),
          graph('Refresh results per minute, and each failing connection', [
            custom('RefreshSucceeded', refresher, 'Sum', 'connections refreshed'),
            custom('RefreshFailedConnections', refresher, 'Sum', 'failed or not reached'),
            custom('RefreshConnectionsNotReached', refresher, 'Sum', 'not reached before the deadline'),
            perConnection('RefreshFailed', refresher, 'failing:'),
          ]),
        ],
        [
          new GraphWidget({
            title: 'Refresher run time (Lambda Duration, maximum) against its timeout',
            left: [
              props.refreshTokens.metricDuration({
                period: Duration.minutes(1),
                statistic: 'Maximum',
                label: 'longest run',
              }),
            ],
            leftAnnotations: [{ value: props.refreshTimeout.toMilliseconds(), label: 'timeout' }],
            width: 12,
            height: 6,
          }),
          graph('Token acquisitions by the refresher, per minute', [
            custom('TokenAcquired', refresher, 'Sum', 'renewals'),
          ]),
        ],
        [
          graph('Refresh dead-letter queue', [
            props.deadLetterQueue.metricNumberOfMessagesSent({
              period: Duration.minutes(5),
              statistic: 'Sum',
              label: 'messages sent (5 min)',
            }),
            props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
              period: Duration.minutes(5),
              statistic: 'Maximum',
              label: 'messages waiting',
            }),
          ]),
          graph('API 4xx and 5xx per minute', [
            props.api.metricClientError({ period: Duration.minutes(1), statistic: 'Sum', label: '4xx' }),
            props.api.metricServerError({ period: Duration.minutes(1), statistic: 'Sum', label: '5xx' }),
          ]),
        ],
        [
          graph('Dependencies going down, and audit records only a log line holds', [
            ...DEPENDENCY_NAMES.map((dependency) =>
              perService(unavailableMetric(dependency), `${dependency} went down:`),
            ),
            custom(AUDIT_NOT_STORED_METRIC, ticket, 'Sum', 'audit records not stored'),
          ]),
        ],
      ],
    });
  }
}

type AlarmOptions = Pick<
  ConstructorParameters<typeof Alarm>[2],
  'metric' | 'threshold' | 'evaluationPeriods' | 'datapointsToAlarm' | 'comparisonOperator'
>;
