import { Match } from 'aws-cdk-lib/assertions';
import { METRICS_NAMESPACE } from '../../shared/logging/telemetry';
import { metricsReadBy } from '../support/metric-names';
import { exampleConfig, render, synthesize } from './support';

/**
 * Alarms that reach someone, fire on what they say, and clear when it stops; the dashboard. The
 * local stand-ins have no SNS policies and no CloudWatch, so only the template can show these.
 */
const { stateless } = synthesize(exampleConfig, { stateless: { alarmEmail: 'ops@example.com' } });
const topic = () => Object.keys(stateless.findResources('AWS::SNS::Topic'))[0] as string;
const alarms = () =>
  Object.values(stateless.findResources('AWS::CloudWatch::Alarm')) as {
    Properties: Record<string, unknown> & { AlarmName: string; AlarmDescription: string };
  }[];

describe('the alarm topic', () => {
  it('lets CloudWatch alarms of this account and deployment publish, and keeps the TLS-only Deny', () => {
    // A topic policy replaces SNS's default one: without this Allow no alarm ever notifies.
    stateless.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topic() }],
      PolicyDocument: {
        // arrayWith keeps order: the Deny comes first.
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: topic() },
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: { 'aws:SourceArn': Match.anyValue() },
            },
          }),
        ]),
      },
    });
    const policy = Object.values(stateless.findResources('AWS::SNS::TopicPolicy'))[0] as {
      Properties: {
        PolicyDocument: {
          Statement: { Effect: string; Condition?: Record<string, Record<string, unknown>> }[];
        };
      };
    };
    const allow = policy.Properties.PolicyDocument.Statement.find(
      (statement) => statement.Effect === 'Allow',
    );
    expect(render(allow?.Condition?.ArnLike?.['aws:SourceArn'])).toBe(
      'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:TicketBroker-*',
    );
    // Every alarm is covered by that pattern.
    for (const alarm of alarms()) expect(alarm.Properties.AlarmName).toMatch(/^TicketBroker-/);
  });

  it('subscribes the address from alarmEmail, and nothing without it', () => {
    stateless.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topic() },
    });
    synthesize().stateless.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('alarms', () => {
  it('every alarm notifies the topic on ALARM and on OK', () => {
    expect(alarms()).toHaveLength(6);
    for (const alarm of alarms())
      expect(alarm.Properties).toMatchObject({
        AlarmActions: [{ Ref: topic() }],
        OKActions: [{ Ref: topic() }],
      });
  });

  it('the dead-letter alarm fires on new messages (sent in the period), so it clears when they stop', () => {
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'NumberOfMessagesSent',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RefreshDeadLetters'), 'QueueName'] },
        },
      ],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    // Depth (messages waiting) would stay in ALARM for the queue's 14-day retention.
    expect(
      alarms().filter((alarm) => alarm.Properties.MetricName === 'ApproximateNumberOfMessagesVisible'),
    ).toEqual([]);
  });

  it('alarms when audit records go only to the log (the table could not take them)', () => {
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'TicketBroker',
      MetricName: 'AuditRecordsNotStored',
      Dimensions: [{ Name: 'service', Value: 'issue-ticket' }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmDescription: Match.stringLikeRegexp('ERROR line of the function'),
    });
  });

  it('alarms early when renewals fail while the current token still works', () => {
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'TicketBroker',
      MetricName: 'RefreshFailedConnections',
      Dimensions: [{ Name: 'service', Value: 'refresh-tokens' }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('still alarms on failed refresher runs, API 5xx and ticket p99 latency', () => {
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^RefreshTokens') } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: Match.stringLikeRegexp('^Api') } }],
      Threshold: 5,
    });
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^IssueTicket') } }],
      ExtendedStatistic: 'p99',
      Threshold: 2000,
    });
  });

  it('each description names the metric, statistic, threshold and window it watches, and the runbook', () => {
    const statistic = (properties: Record<string, unknown>) =>
      String(properties.ExtendedStatistic ?? properties.Statistic);
    for (const { Properties: alarm } of alarms()) {
      const description = alarm.AlarmDescription;
      const threshold = String(alarm.Threshold);
      const comparison = alarm.ComparisonOperator === 'GreaterThanThreshold' ? '>' : '>=';
      const minutes = (Number(alarm.Period) / 60) * Number(alarm.EvaluationPeriods);
      expect({ alarm: alarm.AlarmName, description }).toEqual({
        alarm: alarm.AlarmName,
        description: expect.stringContaining(String(alarm.MetricName)),
      });
      expect(description).toContain(`(${statistic(alarm)})`);
      expect(description).toContain(`${comparison} ${threshold}`);
      expect(description).toMatch(
        new RegExp(
          `${minutes} minutes|${alarm.EvaluationPeriods} consecutive ${Number(alarm.Period) / 60}-minute`,
        ),
      );
      expect(description).toContain('README "Operations"');
    }
  });
});

describe('dashboard', () => {
  const body = () => {
    const dashboard = Object.values(stateless.findResources('AWS::CloudWatch::Dashboard'))[0] as {
      Properties: { DashboardName: unknown; DashboardBody: unknown };
    };
    return {
      name: render(dashboard.Properties.DashboardName),
      text: render(dashboard.Properties.DashboardBody),
    };
  };

  it('one dashboard per deployment and region (dashboards are global)', () => {
    stateless.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    expect(body().name).toBe('TicketBroker-eu-west-1');
  });

  it('shows tickets and tokens, errors by code, latencies, token origins, refresh results, dead letters, API 4xx/5xx', () => {
    const { text } = body();
    const titles = (JSON.parse(text) as { widgets: { properties: { title?: string } }[] }).widgets.map(
      (widget) => widget.properties.title,
    );
    expect(titles).toEqual(
      expect.arrayContaining([
        'Tickets and vended tokens per minute',
        'Errors by code per minute',
        'Ticket function duration, p50 and p99 (all routes)',
        'Astrato /oem/setup latency, p50 and p99',
        'Where requests got their token, per minute',
        'Refresh results per minute, and each failing connection',
        'Refresher run time (Lambda Duration, maximum) against its timeout',
        'Token acquisitions by the refresher, per minute',
        'Refresh dead-letter queue',
        'API 4xx and 5xx per minute',
        'Alarms',
      ]),
    );
    for (const metric of [
      'TicketsIssued',
      'TokensVended',
      'Errors_upstream_unavailable',
      'SetupLatency',
      'TokenCacheHitL1',
      'TokenCacheHitL2',
      'TokenAcquired',
      'TokenLeaseWait',
      'RefreshSucceeded',
      'RefreshFailed',
      'RefreshFailedConnections',
      'RefreshConnectionsNotReached',
      'NumberOfMessagesSent',
      '5xx',
      '4xx',
    ])
      expect({ metric, shown: text.includes(`"${metric}"`) || text.includes(`\\"${metric}\\"`) }).toEqual({
        metric,
        shown: true,
      });
  });
});

describe('metric series that do not grow with the connections', () => {
  const reads = () => metricsReadBy(stateless).filter((read) => read.namespace === METRICS_NAMESPACE);

  it('every alarm and widget reads an aggregate, except the failing-connection search', () => {
    const perConnection = reads().filter((read) => read.dimensionNames.includes('connection'));
    // A connection writes RefreshFailed with its id only while it fails (refresh-tokens.ts).
    expect(perConnection.map((read) => read.metricName)).toEqual(['RefreshFailed']);
    for (const read of reads().filter((each) => !each.dimensionNames.includes('connection')))
      expect(read.dimensionNames).toEqual(['service']);
  });

  it('the refresher run time is drawn against its timeout', () => {
    const dashboard = Object.values(stateless.findResources('AWS::CloudWatch::Dashboard'))[0] as {
      Properties: { DashboardBody: unknown };
    };
    const widgets = (
      JSON.parse(render(dashboard.Properties.DashboardBody)) as {
        widgets: { properties: { title?: string; annotations?: { horizontal?: { value: number }[] } } }[];
      }
    ).widgets;
    const runTime = widgets.find((widget) => widget.properties.title?.startsWith('Refresher run time'));
    expect(runTime?.properties.annotations?.horizontal).toEqual([
      expect.objectContaining({ value: 50_000, label: 'timeout' }),
    ]);
    stateless.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('refresher'),
      Timeout: 50,
    });
  });
});

describe('one metrics namespace', () => {
  it('the functions write to the namespace the dashboard and alarms read, for each deployment', () => {
    for (const [prefix, namespace] of [
      [undefined, METRICS_NAMESPACE],
      ['Staging', `${METRICS_NAMESPACE}/Staging`],
    ] as const) {
      const built = synthesize(exampleConfig, prefix ? { prefix } : {});
      built.stateless.allResourcesProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ POWERTOOLS_METRICS_NAMESPACE: namespace }) },
      });
      const read = new Set(
        metricsReadBy(built.stateless)
          .map((metric) => metric.namespace)
          .filter((name) => !name.startsWith('AWS/')),
      );
      expect([...read]).toEqual([namespace]);
    }
  });
});
