import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type BrokerStacks, type BrokerStacksOptions, buildBrokerStacks } from '../../infra/broker-app';
import { loadBrokerConfigFile } from '../../infra/config-file';
import type { BrokerConfig } from '../../shared/config/schema';

/** The example configuration shipped in config/connections.json (Astrato and the OMS realm). */
export const exampleConfig: BrokerConfig = loadBrokerConfigFile('config/connections.json');

/** An app that skips bundling: these tests look at templates, not at the function code. */
export function newApp(): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [] } });
}

export interface Synthesized {
  readonly app: App;
  readonly stacks: BrokerStacks;
  readonly stateful: Template;
  readonly stateless: Template;
}

export function synthesize(
  config: BrokerConfig = exampleConfig,
  options: BrokerStacksOptions = {},
): Synthesized {
  const app = newApp();
  const stacks = buildBrokerStacks(app, config, options);
  return {
    app,
    stacks,
    stateful: Template.fromStack(stacks.stateful),
    stateless: Template.fromStack(stacks.stateless),
  };
}

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export const actionsOf = (statement: Statement): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];

export const resourcesOf = (statement: Statement): unknown[] =>
  Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];

interface PolicyResource {
  Properties: { PolicyDocument: { Statement: Statement[] }; Roles?: { Ref: string }[] };
}

/** Every identity-policy statement of a template. */
export function statements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => (policy as PolicyResource).Properties.PolicyDocument.Statement,
  );
}

/** The statements of the role of the function whose description matches. */
export function functionStatements(template: Template, description: RegExp): Statement[] {
  const functions = Object.values(template.findResources('AWS::Lambda::Function')) as {
    Properties: { Description: string; Role: { 'Fn::GetAtt': [string, string] } };
  }[];
  const fn = functions.find((candidate) => description.test(candidate.Properties.Description));
  if (!fn) throw new Error(`no function described as ${description}`);
  const role = fn.Properties.Role['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .map((policy) => policy as PolicyResource)
    .filter((policy) => policy.Properties.Roles?.some((ref) => ref.Ref === role))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
}

/** `Fn::ImportValue` export name -> the stateful stack's resource logical id it exports. */
export function exportedRefs(stateful: Template): Map<string, string> {
  const exported = new Map<string, string>();
  for (const output of Object.values(stateful.findOutputs('*'))) {
    const { Value, Export } = output as { Value?: { Ref?: string }; Export?: { Name?: string } };
    if (Value?.Ref && Export?.Name) exported.set(Export.Name, Value.Ref);
  }
  return exported;
}

/** The secret names a list of IAM resources (imports of the stateful stack) resolves to. */
export function secretNamesOf(resources: unknown[], stateful: Template): (string | undefined)[] {
  const exported = exportedRefs(stateful);
  const secrets = stateful.findResources('AWS::SecretsManager::Secret') as Record<
    string,
    { Properties: { Name: string } }
  >;
  return resources.map((resource) => {
    const name = (resource as { 'Fn::ImportValue'?: string })['Fn::ImportValue'];
    const logicalId = name ? exported.get(name) : undefined;
    return logicalId ? secrets[logicalId]?.Properties.Name : undefined;
  });
}
