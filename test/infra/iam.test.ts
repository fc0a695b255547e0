import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { BrokerFunction, type TableAccess } from '../../infra/constructs/broker-function';
import { StatefulStack } from '../../infra/stateful-stack';
import {
  actionsOf,
  exampleConfig,
  FUNCTIONS,
  functionStatements,
  iamPattern,
  newApp,
  PSEUDO,
  render,
  resourcesOf,
  type Statement,
  secretArn,
  secretReaders,
  statements,
  synthesize,
} from './support';

const { ticket: TICKET, refresher: REFRESHER } = FUNCTIONS;

/** Any action that can change a secret or its policy, including wildcards that would cover one. */
const SECRET_WRITE =
  /^(\*|secretsmanager:(\*|Put|Update|Create|Delete|Restore|Rotate|Cancel|Tag|Untag|Replicate|Remove|Stop|Batch|Validate).*)$/;

/**
 * What a set of statements lets a role do to an audit record (`audit#...`) of the table: each
 * entry names an action that could read (and so learn a record's key), change or delete one.
 * PutItem alone is what the ticket function needs: a new record under a key of 128 random bits
 * that nothing it may read holds, so it can add records but never name an existing one.
 */
function auditRecordRisks(all: readonly Statement[]): string[] {
  const AUDIT_KEY = 'audit#Zm9yZ2VkLXJlY29yZC1rZXk';
  // Every item action but PutItem (and ConditionCheckItem, which reads nothing back), plus the
  // table actions that could replace the data wholesale; matched against wildcards too.
  const risky = [
    'GetItem',
    'BatchGetItem',
    'Query',
    'Scan',
    'UpdateItem',
    'DeleteItem',
    'BatchWriteItem',
    'PartiQLSelect',
    'PartiQLUpdate',
    'PartiQLDelete',
    'PartiQLInsert',
    'GetRecords',
    'ExportTableToPointInTime',
    'RestoreTableToPointInTime',
    'DeleteTable',
    'UpdateTable',
    'UpdateTimeToLive',
  ].map((action) => `dynamodb:${action}`);
  const risks: string[] = [];
  for (const statement of all.filter((candidate) => candidate.Effect === 'Allow')) {
    const leading = statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as
      | string[]
      | undefined;
    const reachesAudit =
      leading === undefined || leading.some((pattern) => iamPattern(pattern).test(AUDIT_KEY));
    if (!reachesAudit) continue;
    for (const action of actionsOf(statement)) {
      const pattern = iamPattern(action);
      if (risky.some((candidate) => pattern.test(candidate)))
        risks.push(`${statement.Sid ?? 'statement'}: ${action}`);
    }
  }
  return risks;
}

/**
 * Least privilege, read from the synthesized IAM policies: environment-agnostic (`cdk synth`
 * without credentials) and with the account and region `cdk deploy` gives the stacks, where ARNs
 * and conditions are written out (the same account and region as PSEUDO, so both read alike).
 */
describe.each([
  { name: 'environment-agnostic', options: {} },
  {
    name: 'with an account and region',
    options: { env: { account: PSEUDO['AWS::AccountId'], region: PSEUDO['AWS::Region'] } },
  },
])('$name', ({ options }) => {
  const built = synthesize(exampleConfig, options);
  const all = [...statements(built.stateful), ...statements(built.stateless)];

  describe('secrets', () => {
    it('nothing in either stack may write, create, delete, rotate or re-policy a secret', () => {
      expect(all.flatMap(actionsOf).filter((action) => SECRET_WRITE.test(action))).toEqual([]);
      built.stateful.resourceCountIs('AWS::SecretsManager::ResourcePolicy', 0);
      built.stateful.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    });

    it('both functions may only GetSecretValue: no DescribeSecret (unused), no write', () => {
      for (const fn of [TICKET, REFRESHER]) {
        const actions = functionStatements(built.stateless, fn)
          .flatMap(actionsOf)
          .filter((action) => action.startsWith('secretsmanager:'));
        expect(actions).toEqual(['secretsmanager:GetSecretValue']);
        expect(
          functionStatements(built.stateless, fn).every((statement) => statement.Effect === 'Allow'),
        ).toBe(true);
      }
    });

    it('one statement covers the deployment’s secrets by their name prefix, and matches each of them', () => {
      const names = Object.values(built.stateful.findResources('AWS::SecretsManager::Secret')).map(
        (secret) => (secret as { Properties: { Name: string } }).Properties.Name,
      );
      expect(names.sort()).toEqual(['TicketBroker/ticket-broker/astrato', 'TicketBroker/ticket-broker/oms']);
      for (const fn of [TICKET, REFRESHER]) {
        const readers = secretReaders(built.stateless, fn);
        expect(readers).toHaveLength(1);
        const [reader] = readers as [Statement];
        expect(resourcesOf(reader).map((value) => render(value))).toEqual([
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:TicketBroker/*',
        ]);
        const pattern = iamPattern(render(resourcesOf(reader)[0]));
        for (const name of names)
          expect({ name, readable: pattern.test(secretArn(name)) }).toEqual({ name, readable: true });
      }
    });

    it('each function’s configuration names exactly the deployed secrets, and its statement reads each of them', () => {
      for (const prefix of [undefined, 'Staging']) {
        const deployment = synthesize(exampleConfig, prefix ? { prefix } : {});
        const names = Object.values(deployment.stateful.findResources('AWS::SecretsManager::Secret'))
          .map((secret) => (secret as { Properties: { Name: string } }).Properties.Name)
          .sort();
        for (const fn of [
          deployment.stacks.stateless.issueTicket,
          deployment.stacks.stateless.refreshTokens,
        ]) {
          const configured = Object.values(fn.config.connections)
            .map((connection) => connection.secretId)
            .sort();
          expect(configured).toEqual(names);
          const reader = secretReaders(
            deployment.stateless,
            new RegExp(fn.node.id === 'IssueTicket' ? 'HTTP API' : 'refresher'),
          )[0] as Statement;
          const pattern = iamPattern(render(resourcesOf(reader)[0]));
          for (const name of configured)
            expect({ name, readable: pattern.test(secretArn(name)) }).toEqual({ name, readable: true });
        }
      }
    });

    it('no other secret: one made outside the config, another deployment’s, or a look-alike prefix', () => {
      const reader = secretReaders(built.stateless, TICKET)[0] as Statement;
      const pattern = iamPattern(render(resourcesOf(reader)[0]));
      const staging = synthesize(exampleConfig, { prefix: 'Staging' });
      const stagingNames = Object.values(staging.stateful.findResources('AWS::SecretsManager::Secret')).map(
        (secret) => (secret as { Properties: { Name: string } }).Properties.Name,
      );
      expect(stagingNames).toHaveLength(2);
      for (const name of [
        'someone-else/secret',
        'ticket-broker/astrato', // the bare secretId: not this deployment's secret
        'TicketBroker-2/ticket-broker/astrato',
        'TicketBrokerStaging/x',
        ...stagingNames,
      ])
        expect({ name, readable: pattern.test(secretArn(name)) }).toEqual({ name, readable: false });
    });

    it('a secret created by hand in the stateful stack under another name is not readable', () => {
      const app = newApp();
      const stateful = new StatefulStack(app, 'Stateful', { config: exampleConfig });
      new Secret(stateful, 'UnrelatedSecret', { secretName: 'someone-else/secret' });
      const name = (
        Object.values(Template.fromStack(stateful).findResources('AWS::SecretsManager::Secret')) as {
          Properties: { Name: string };
        }[]
      ).find((secret) => secret.Properties.Name.startsWith('someone'))?.Properties.Name as string;
      const reader = secretReaders(built.stateless, REFRESHER)[0] as Statement;
      expect(iamPattern(render(resourcesOf(reader)[0])).test(secretArn(name))).toBe(false);
    });
  });

  describe('table items, by the prefix of their key (dynamodb:LeadingKeys)', () => {
    // The local stand-ins cannot prove this: dynalite and the other stand-ins enforce no IAM, so a
    // function that wrote a caller# item would succeed in every local test. Only these template
    // checks, and IAM on AWS, hold the functions to the kinds of item below.
    const readsOf = (kinds: string[]) =>
      Match.objectLike({
        Sid: 'TableReads',
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: { 'Fn::ImportValue': Match.stringLikeRegexp('GetAttTable.*Arn') },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': kinds } },
      });
    const writesOf = (kinds: string[]) =>
      Match.objectLike({
        Sid: 'TableWrites',
        Effect: 'Allow',
        Action: ['dynamodb:DeleteItem', 'dynamodb:PutItem'],
        Resource: { 'Fn::ImportValue': Match.stringLikeRegexp('GetAttTable.*Arn') },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': kinds } },
      });
    const roleOf = (description: RegExp) => {
      const fn = Object.values(built.stateless.findResources('AWS::Lambda::Function')).find((candidate) =>
        description.test((candidate as { Properties: { Description: string } }).Properties.Description),
      ) as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } };
      return fn.Properties.Role['Fn::GetAtt'][0];
    };

    it('the ticket function reads caller#, token#, lease# and status# items, and writes only token# and lease#', () => {
      built.stateless.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: roleOf(TICKET) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            readsOf(['caller#*', 'token#*', 'lease#*', 'status#*']),
            writesOf(['token#*', 'lease#*']),
          ]),
        },
      });
    });

    it('the refresher reads token# and lease# items and writes token#, lease# and status#: never a caller', () => {
      built.stateless.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: roleOf(REFRESHER) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            readsOf(['token#*', 'lease#*']),
            writesOf(['token#*', 'lease#*', 'status#*']),
          ]),
        },
      });
    });

    it('the ticket function may only put audit# and lastused# items: no read (not even the item a put replaced), no delete, no update', () => {
      built.stateless.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: roleOf(TICKET) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Sid: 'TablePutsOnly',
              Effect: 'Allow',
              Action: 'dynamodb:PutItem',
              Resource: { 'Fn::ImportValue': Match.stringLikeRegexp('GetAttTable.*Arn') },
              Condition: {
                'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['audit#*', 'lastused#*'] },
                StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
              },
            }),
          ]),
        },
      });
    });

    it('no statement of either function reaches the table without a LeadingKeys condition, and none writes caller#', () => {
      for (const [fn, count] of [
        [TICKET, 3],
        [REFRESHER, 2],
      ] as const) {
        const table = functionStatements(built.stateless, fn).filter((statement) =>
          actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
        );
        expect(table).toHaveLength(count);
        for (const statement of table) {
          const keys = statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as string[];
          expect(keys.length).toBeGreaterThan(0);
          expect(keys.every((key) => /^[a-z]+#\*$/.test(key))).toBe(true);
          if (actionsOf(statement).some((action) => action !== 'dynamodb:GetItem'))
            expect(keys).not.toContain('caller#*');
        }
      }
      expect(
        all
          .flatMap(actionsOf)
          .filter((action) => /^dynamodb:(Scan|Query|Batch|UpdateItem|.*Table|\*)/.test(action)),
      ).toEqual([]);
    });
  });

  describe('audit records: the functions add them, and cannot read, overwrite or delete one', () => {
    it('neither function has an action on audit# items but PutItem, and the ticket function has that', () => {
      for (const fn of [TICKET, REFRESHER])
        expect({ fn: String(fn), risks: auditRecordRisks(functionStatements(built.stateless, fn)) }).toEqual({
          fn: String(fn),
          risks: [],
        });
      const puts = functionStatements(built.stateless, TICKET).filter(
        (statement) =>
          actionsOf(statement).includes('dynamodb:PutItem') &&
          (
            statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as string[] | undefined
          )?.includes('audit#*'),
      );
      expect(puts.map(actionsOf)).toEqual([['dynamodb:PutItem']]);
    });

    it('nor any other role in either stack, and no role may query the table’s index', () => {
      expect(auditRecordRisks(all)).toEqual([]);
      expect(JSON.stringify(all.map((statement) => statement.Resource))).not.toContain('/index/');
    });

    it('negative control: the same check finds delete, update, read and unconditioned access', () => {
      const app = newApp();
      const stateful = new StatefulStack(app, 'ControlStateful', { config: exampleConfig });
      const stack = new Stack(app, 'Control');
      const bind = (id: string, access: TableAccess) =>
        new BrokerFunction(stack, id, {
          entry: 'functions/issue-ticket/handler.ts',
          description: `control ${id}`,
          serviceName: 'issue-ticket',
          config: exampleConfig,
        }).bindTable(stateful.table, access);
      bind('Writes', { read: [], write: ['audit'] });
      bind('Reads', { read: ['audit'], write: [], put: ['lastUsed'] });
      bind('Puts', { read: [], write: [], put: ['audit'] }).addToRolePolicy(
        new PolicyStatement({ sid: 'Unconditioned', actions: ['dynamodb:UpdateItem'], resources: ['*'] }),
      );
      const template = Template.fromStack(stack);
      expect(auditRecordRisks(functionStatements(template, /control Writes/))).toEqual([
        'TableWrites: dynamodb:DeleteItem',
      ]);
      expect(auditRecordRisks(functionStatements(template, /control Reads/))).toEqual([
        'TableReads: dynamodb:GetItem',
      ]);
      expect(auditRecordRisks(functionStatements(template, /control Puts/))).toEqual([
        'Unconditioned: dynamodb:UpdateItem',
      ]);
      expect(() => bind('Both', { read: [], write: ['audit'], put: ['audit'] })).toThrow(
        /audit may be put only, or read and written, not both/,
      );
    });
  });

  describe('keys', () => {
    it('the key may be used only through DynamoDB (table) and Secrets Manager (decrypt only)', () => {
      for (const fn of [TICKET, REFRESHER]) {
        const kms = functionStatements(built.stateless, fn).filter((statement) =>
          actionsOf(statement).some((action) => action.startsWith('kms:')),
        );
        expect(kms).toHaveLength(2);
        const via = (statement: Statement) => render(statement.Condition?.StringEquals?.['kms:ViaService']);
        const table = kms.find((statement) => via(statement) === 'dynamodb.eu-west-1.amazonaws.com');
        const secrets = kms.find((statement) => via(statement) === 'secretsmanager.eu-west-1.amazonaws.com');
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
    it('the only wildcards are X-Ray’s "*" (it supports no other) and the deployment’s secret name prefix', () => {
      const starred = all.filter((statement) => resourcesOf(statement).some((resource) => resource === '*'));
      expect(starred.length).toBe(2); // one per function
      for (const statement of starred)
        expect(actionsOf(statement).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      const secretReadersAll = all.filter((statement) => statement.Sid === 'ConnectionSecrets');
      expect(secretReadersAll).toHaveLength(2);
      for (const statement of all.filter(
        (candidate) => !starred.includes(candidate) && !secretReadersAll.includes(candidate),
      ))
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
});
