import type { Template } from 'aws-cdk-lib/assertions';
import { exampleConfig, render, synthesize } from './support';

/**
 * Two deployments in one account and region (`-c stackPrefix=Staging` beside the default) share
 * no physical name: secrets, table, log groups, alarms, dashboard, exports, stacks, and no metrics
 * namespace either (a shared one would feed one deployment's alarms with the other's failures).
 */

/** Properties that give a resource its physical name. */
const NAME_PROPERTIES = [
  'Name',
  'TableName',
  'LogGroupName',
  'AlarmName',
  'DashboardName',
  'TopicName',
  'QueueName',
  'RoleName',
  'FunctionName',
  'AliasName',
  'StateMachineName',
] as const;

/** Types whose `Name` is a label, not a unique physical name. */
const LABELS = new Set(['AWS::ApiGatewayV2::Stage', 'AWS::Lambda::Alias']);
/** Types whose name property names another resource, not itself. */
const REFERENCES = new Set(['AWS::Lambda::Permission', 'AWS::Lambda::EventInvokeConfig']);

function physicalNames(stackName: string, template: Template): string[] {
  const json = template.toJSON() as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    Outputs?: Record<string, { Export?: { Name: unknown } }>;
  };
  const names = [`stack:${stackName}`];
  for (const [id, resource] of Object.entries(json.Resources)) {
    if (REFERENCES.has(resource.Type) || LABELS.has(resource.Type)) continue;
    const given = NAME_PROPERTIES.filter((property) => resource.Properties?.[property] !== undefined);
    // Without a name property, CloudFormation generates one from the stack's name and the logical id.
    if (given.length === 0) names.push(`${resource.Type}:generated:${stackName}-${id}`);
    for (const property of given) names.push(`${resource.Type}:${render(resource.Properties?.[property])}`);
    if (resource.Type === 'AWS::CloudWatch::Alarm' && typeof resource.Properties?.Namespace === 'string') {
      const namespace = resource.Properties.Namespace;
      if (!namespace.startsWith('AWS/')) names.push(`metrics-namespace:${namespace}`);
    }
  }
  for (const output of Object.values(json.Outputs ?? {}))
    if (output.Export) names.push(`export:${render(output.Export.Name)}`);
  return names;
}

function deployment(prefix?: string): string[] {
  const built = synthesize(exampleConfig, prefix ? { prefix } : {});
  return [
    ...physicalNames(built.stacks.stateful.stackName, built.stateful),
    ...physicalNames(built.stacks.stateless.stackName, built.stateless),
  ];
}

it('the default deployment and -c stackPrefix=Staging share no physical name', () => {
  const production = deployment();
  const staging = deployment('Staging');
  // What is compared: names of every kind the issue lists.
  for (const kind of [
    'AWS::SecretsManager::Secret:TicketBroker/',
    'AWS::DynamoDB::Table:generated:TicketBrokerStateful-',
    'AWS::Logs::LogGroup:/aws/vendedlogs/',
    'AWS::Logs::LogGroup:generated:TicketBrokerApi-',
    'AWS::CloudWatch::Alarm:TicketBroker-',
    'AWS::CloudWatch::Dashboard:TicketBroker-',
    'metrics-namespace:',
    'export:',
  ])
    expect({ kind, present: production.some((name) => name.startsWith(kind)) }).toEqual({
      kind,
      present: true,
    });
  expect(staging.some((name) => name.startsWith('AWS::SecretsManager::Secret:Staging/'))).toBe(true);
  expect(production.filter((name) => staging.includes(name))).toEqual([]);
});

it('finds a shared name when there is one (the check can fail)', () => {
  const production = deployment();
  expect(production.filter((name) => deployment().includes(name)).length).toBeGreaterThan(10);
});
