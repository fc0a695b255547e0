import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildBrokerStacks } from '../../infra/broker-app';
import { parseBrokerConfigJson } from '../../shared/config/schema';

/**
 * The synthesized templates, checked with Template and Match (no pinned logical ids). Bundling is
 * skipped here (`aws:cdk:bundling-stacks: []`); test/infra/synth.test.ts synthesizes the real app.
 */
const config = parseBrokerConfigJson(
  readFileSync('config/connections.json', 'utf8'),
  'config/connections.json',
);

function synthesize(options: { decoy?: boolean } = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stacks = buildBrokerStacks(app, config);
  // A secret the broker has no business reading, in the same account and stack.
  if (options.decoy) new Secret(stacks.stateful, 'UnrelatedSecret', { secretName: 'someone-else/secret' });
  return {
    app,
    stateful: Template.fromStack(stacks.stateful),
    stateless: Template.fromStack(stacks.stateless),
  };
}

const built = synthesize();
const { stateful, stateless } = built;
const withDecoy = synthesize({ decoy: true });

/** Every IAM policy statement of a template. */
function statements(template: Template): { Action: string | string[]; Resource: unknown; Sid?: string }[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: never[] } } }).Properties.PolicyDocument
        .Statement,
  );
}
const actionsOf = (statement: { Action: string | string[] }) =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];

describe('stateful stack', () => {
  it('has the single table of DESIGN.md: pk, on demand, PITR, customer-managed key, TTL on ttl, retained', () => {
    stateful.resourceCountIs('AWS::DynamoDB::Table', 1);
    stateful.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        DeletionProtectionEnabled: true,
      },
    });
  });

  it('has a customer-managed key with rotation, retained', () => {
    stateful.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: { EnableKeyRotation: true },
    });
  });

  it('has one secret per connection, named by its secretId, retained, with no value in the template', () => {
    for (const name of ['ticket-broker/astrato', 'ticket-broker/oms']) {
      stateful.hasResource('AWS::SecretsManager::Secret', {
        DeletionPolicy: 'Retain',
        Properties: {
          Name: name,
          KmsKeyId: Match.anyValue(),
          GenerateSecretString: Match.objectLike({ GenerateStringKey: 'clientSecret' }),
          SecretString: Match.absent(),
        },
      });
    }
  });
});

describe('stateless stack', () => {
  it('has both functions on Node.js 22, arm64, X-Ray active, with their configuration and table', () => {
    stateless.resourcePropertiesCountIs('AWS::Lambda::Function', { Runtime: 'nodejs22.x' }, 2);
    stateless.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: Match.anyValue() },
      Environment: {
        Variables: Match.objectLike({
          BROKER_CONFIG: JSON.stringify(config),
          TABLE_NAME: Match.anyValue(),
          NODE_OPTIONS: '--enable-source-maps',
        }),
      },
    });
  });

  it('keeps logs with a retention', () => {
    const groups = Object.values(stateless.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBe(3); // two functions and the API's access log
    for (const group of groups)
      expect((group as { Properties: { RetentionInDays: number } }).Properties.RetentionInDays).toBe(30);
  });

  it('routes the /v1 API, and everything else to the function for problem+json', () => {
    stateless.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    const routeKeys = Object.values(stateless.findResources('AWS::ApiGatewayV2::Route')).map(
      (route) => (route as { Properties: { RouteKey: string } }).Properties.RouteKey,
    );
    expect(routeKeys.sort()).toEqual(
      [
        'POST /v1/tickets',
        'POST /v1/connections/{id}/token',
        'GET /v1/connections/{id}/status',
        'GET /v1/health',
        'ANY /{proxy+}',
      ].sort(),
    );
  });

  it('throttles the stage and writes access logs without the Authorization header', () => {
    stateless.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 }),
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
    });
    const stage = Object.values(stateless.findResources('AWS::ApiGatewayV2::Stage'))[0] as {
      Properties: { AccessLogSettings: { Format: string } };
    };
    expect(stage.Properties.AccessLogSettings.Format.toLowerCase()).not.toContain('authorization');
  });

  it('runs the refresher every minute, with retries and a dead-letter queue, and failed runs land there too', () => {
    stateless.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 120 },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      ],
    });
    stateless.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
    stateless.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1209600,
    });
    stateless.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('alarms on refresher errors, dead letters, API 5xx and ticket latency', () => {
    stateless.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
    });
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
    });
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: '5xx',
      Namespace: 'AWS/ApiGateway',
    });
    stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Duration',
      ExtendedStatistic: 'p99',
      Threshold: 2000,
    });
  });

  it('outputs the API URL, the table, each secret ARN and the commands to put secrets and create a caller', () => {
    const outputs = stateless.findOutputs('*');
    const names = Object.keys(outputs);
    expect(names).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'TableName',
        'SecretArnastrato',
        'SecretArnoms',
        'PutSecretCommandastrato',
        'PutSecretCommandoms',
        'CreateCallerCommand',
      ]),
    );
    expect(JSON.stringify(outputs.PutSecretCommandoms)).toContain(
      'aws secretsmanager put-secret-value --secret-id',
    );
    expect(JSON.stringify(outputs.CreateCallerCommand)).toContain('npm run callers -- create');
  });
});

describe('least privilege', () => {
  const all = [...statements(stateful), ...statements(stateless)];

  it('nothing can write, create, delete or rotate a secret', () => {
    const writes = all
      .flatMap(actionsOf)
      .filter((action) => /^secretsmanager:(?!GetSecretValue$|DescribeSecret$)/.test(action));
    expect(writes).toEqual([]);
  });

  it('the functions read exactly the configured connections’ secrets, not another secret', () => {
    // Resolve each readable resource (an import of the stateful stack's export) back to a secret name.
    const exported = new Map<string, string>();
    for (const output of Object.values(withDecoy.stateful.findOutputs('*'))) {
      const { Value, Export } = output as { Value?: { Ref?: string }; Export?: { Name?: string } };
      if (Value?.Ref && Export?.Name) exported.set(Export.Name, Value.Ref);
    }
    const names = new Map<string, string>();
    for (const [logicalId, resource] of Object.entries(
      withDecoy.stateful.findResources('AWS::SecretsManager::Secret'),
    )) {
      names.set(logicalId, (resource as { Properties: { Name: string } }).Properties.Name);
    }
    expect([...names.values()]).toContain('someone-else/secret');
    const secretStatements = statements(withDecoy.stateless).filter(
      (statement) => statement.Sid === 'ConnectionSecrets',
    );
    expect(secretStatements.length).toBe(2); // one per function
    for (const statement of secretStatements) {
      expect(actionsOf(statement).sort()).toEqual([
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
      ]);
      const readable = (statement.Resource as { 'Fn::ImportValue': string }[]).map((resource) =>
        names.get(exported.get(resource['Fn::ImportValue']) ?? ''),
      );
      expect(readable.sort()).toEqual(['ticket-broker/astrato', 'ticket-broker/oms']);
    }
  });

  it('table and secret actions never apply to "*"', () => {
    for (const statement of all) {
      if (actionsOf(statement).some((action) => /^(dynamodb|secretsmanager|kms):/.test(action))) {
        expect(statement.Resource).not.toBe('*');
        expect(JSON.stringify(statement.Resource)).not.toContain('"*"');
      }
    }
  });

  it('the functions may only get, put, delete and update items of the one table', () => {
    const table = statements(stateless).filter((statement) => statement.Sid === 'TableItems');
    expect(table.length).toBe(2);
    for (const statement of table) {
      expect(actionsOf(statement).sort()).toEqual([
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
      ]);
    }
    expect(
      all.flatMap(actionsOf).filter((action) => /^dynamodb:(Scan|Query|Batch|DeleteTable|\*)/.test(action)),
    ).toEqual([]);
  });
});

describe('no secret value in any template', () => {
  it('secret values set in the environment appear nowhere in the synthesized templates', () => {
    const canaries = {
      ASTRATO_CLIENT_SECRET: 'canary-astrato-0f9e8d7c6b5a',
      OMS_CLIENT_SECRET: 'canary-oms-1a2b3c4d5e6f',
      CLIENT_SECRET: 'canary-generic-9z8y7x',
    };
    const saved = { ...process.env };
    Object.assign(process.env, canaries);
    try {
      const fresh = synthesize();
      const text = JSON.stringify([fresh.stateful.toJSON(), fresh.stateless.toJSON()]);
      for (const value of Object.values(canaries)) expect(text).not.toContain(value);
      expect(text).not.toMatch(/"SecretString"/);
    } finally {
      process.env = saved;
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds no unsuppressed error or warning, and every suppression carries a reason', () => {
    const report = new AwsSolutionsChecks(built.app).validateScope(built.app);
    const findings = report.violations.map(
      (violation) =>
        `${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    const reasons = built.app.node
      .findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
      .flatMap((entry) => Object.values(entry.data as Record<string, string>));
    expect(reasons.length).toBeGreaterThan(3);
    for (const reason of reasons) expect(reason.length).toBeGreaterThan(40);
  });

  it('does report a violation when there is one (the check can fail)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Careless');
    new Secret(stack, 'NoRotation');
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((violation) => violation.ruleName)).toContain('AwsSolutions-SMG4');
  });
});
