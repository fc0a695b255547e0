import { Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { StatefulStack } from '../../infra/stateful-stack';
import { StatelessStack } from '../../infra/stateless-stack';
import type { BrokerConfig } from '../../shared/config/schema';
import {
  actionsOf,
  exampleConfig,
  functionStatements,
  newApp,
  resourcesOf,
  type Statement,
  secretNamesOf,
  statements,
  synthesize,
} from './support';

/** Least privilege, read from the synthesized IAM policies. */
const built = synthesize();
const all = [...statements(built.stateful), ...statements(built.stateless)];
const TICKET = /HTTP API/;
const REFRESHER = /refresher/;

/** Any action that can change a secret or its policy, including wildcards that would cover one. */
const SECRET_WRITE =
  /^(\*|secretsmanager:(\*|Put|Update|Create|Delete|Restore|Rotate|Cancel|Tag|Untag|Replicate|Remove|Stop|Batch|Validate).*)$/;

describe('secrets', () => {
  it('nothing in either stack may write, create, delete, rotate or re-policy a secret', () => {
    expect(all.flatMap(actionsOf).filter((action) => SECRET_WRITE.test(action))).toEqual([]);
    built.stateful.resourceCountIs('AWS::SecretsManager::ResourcePolicy', 0);
    built.stateful.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
  });

  it('the ticket function cannot call secretsmanager:PutSecretValue (nor any other write) on anything', () => {
    const ticket = functionStatements(built.stateless, TICKET);
    expect(ticket.length).toBeGreaterThan(0);
    const secretActions = ticket.flatMap(actionsOf).filter((action) => action.startsWith('secretsmanager:'));
    expect(secretActions.sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    expect(ticket.flatMap(actionsOf)).not.toContain('secretsmanager:PutSecretValue');
    expect(ticket.every((statement) => statement.Effect === 'Allow')).toBe(true);
  });

  it('each function reads exactly the configured connections’ secrets, and not a secret made outside the config', () => {
    const app = newApp();
    const stateful = new StatefulStack(app, 'Stateful', { config: exampleConfig });
    // Another secret in the same account and stack, which the broker has no business reading.
    const decoy = new Secret(stateful, 'UnrelatedSecret', { secretName: 'someone-else/secret' });
    const stateless = new StatelessStack(app, 'Api', {
      config: exampleConfig,
      table: stateful.table,
      secrets: { ...stateful.secrets, unrelated: decoy },
    });
    const statefulTemplate = Template.fromStack(stateful);
    const statelessTemplate = Template.fromStack(stateless);
    for (const fn of [TICKET, REFRESHER]) {
      const readers = functionStatements(statelessTemplate, fn).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('secretsmanager:')),
      );
      expect(readers).toHaveLength(1);
      const [reader] = readers as [Statement];
      expect(actionsOf(reader).sort()).toEqual([
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
      ]);
      expect(secretNamesOf(resourcesOf(reader), statefulTemplate).sort()).toEqual([
        'ticket-broker/astrato',
        'ticket-broker/oms',
      ]);
    }
  });

  it('a function serving one connection cannot read the secret of another connection', () => {
    const app = newApp();
    const stateful = new StatefulStack(app, 'Stateful', { config: exampleConfig });
    const astratoOnly: BrokerConfig = {
      ...exampleConfig,
      connections: { astrato: exampleConfig.connections.astrato as BrokerConfig['connections'][string] },
    };
    const stateless = new StatelessStack(app, 'Api', {
      config: astratoOnly,
      table: stateful.table,
      secrets: stateful.secrets, // holds the oms secret too
    });
    const statefulTemplate = Template.fromStack(stateful);
    const ticket = functionStatements(Template.fromStack(stateless), TICKET).filter(
      (statement) => statement.Sid === 'ConnectionSecrets',
    );
    expect(ticket).toHaveLength(1);
    expect(secretNamesOf(resourcesOf(ticket[0] as Statement), statefulTemplate)).toEqual([
      'ticket-broker/astrato',
    ]);
  });
});

describe('table and key', () => {
  it('both functions may only get, put, delete and update items of the one table', () => {
    for (const fn of [TICKET, REFRESHER]) {
      const table = functionStatements(built.stateless, fn).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
      );
      expect(table).toHaveLength(1);
      const [statement] = table as [Statement];
      expect(actionsOf(statement).sort()).toEqual([
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
      ]);
      expect(statement.Resource).toEqual({ 'Fn::ImportValue': expect.stringMatching(/GetAttTable.*Arn/) });
    }
    expect(
      all.flatMap(actionsOf).filter((action) => /^dynamodb:(Scan|Query|Batch|.*Table|\*)/.test(action)),
    ).toEqual([]);
  });

  it('the key may be used only through DynamoDB (table) and Secrets Manager (decrypt only)', () => {
    for (const fn of [TICKET, REFRESHER]) {
      const kms = functionStatements(built.stateless, fn).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('kms:')),
      );
      expect(kms).toHaveLength(2);
      const via = (statement: Statement) =>
        JSON.stringify(statement.Condition?.StringEquals?.['kms:ViaService'] ?? null);
      const table = kms.find((statement) => via(statement).includes('"dynamodb."'));
      const secrets = kms.find((statement) => via(statement).includes('"secretsmanager."'));
      expect(actionsOf(table as Statement).sort()).toEqual([
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:Encrypt',
        'kms:GenerateDataKey',
      ]);
      expect(actionsOf(secrets as Statement)).toEqual(['kms:Decrypt']);
      for (const statement of kms)
        expect(statement.Resource).toEqual({ 'Fn::ImportValue': expect.stringMatching(/GetAttKey.*Arn/) });
    }
  });
});

describe('no wildcard where a resource can be named', () => {
  it('the only "*" resource is X-Ray’s, which supports no other', () => {
    const starred = all.filter((statement) => resourcesOf(statement).some((resource) => resource === '*'));
    expect(starred.length).toBe(2); // one per function
    for (const statement of starred)
      expect(actionsOf(statement).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    for (const statement of all.filter((candidate) => !starred.includes(candidate)))
      expect(JSON.stringify(statement.Resource)).not.toContain('*');
    expect(all.flatMap(actionsOf).filter((action) => action.includes('*'))).toEqual([]);
  });

  it('the functions write logs to their own log group only, with no managed policy on their roles', () => {
    for (const fn of [TICKET, REFRESHER]) {
      const logs = functionStatements(built.stateless, fn).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('logs:')),
      );
      expect(logs).toHaveLength(1);
      expect(actionsOf(logs[0] as Statement).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      expect((logs[0] as Statement).Resource).toEqual({
        'Fn::GetAtt': [expect.stringMatching(/Logs/), 'Arn'],
      });
    }
    for (const role of Object.values(built.stateless.findResources('AWS::IAM::Role')))
      expect(
        (role as { Properties: { ManagedPolicyArns?: unknown } }).Properties.ManagedPolicyArns,
      ).toBeUndefined();
  });
});
