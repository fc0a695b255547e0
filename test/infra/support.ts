import { App, type Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type BrokerStacks, type BrokerStacksOptions, buildBrokerStacks } from '../../infra/broker-app';
import { loadBrokerConfigFile } from '../../infra/config-file';
import { cdkJsonContext } from '../../infra/context';
import type { BrokerConfig } from '../../shared/config/schema';

export { generatedConfig } from '../../scripts/generated-config';

/** The example configuration shipped in config/connections.json (Astrato and the OMS realm). */
export const exampleConfig: BrokerConfig = loadBrokerConfigFile('config/connections.json');

/** The context of cdk.json (feature flags included): what the real app synthesizes with. */
export const CDK_CONTEXT = cdkJsonContext();

/**
 * An app with cdk.json's context that skips bundling: these tests look at templates, not at the
 * function code. Version reporting is on, as the CDK CLI turns it on: the templates then hold the
 * `CDKMetadata` resource (and its condition) that a deployment's templates hold.
 */
export function newApp(context: Record<string, unknown> = {}): App {
  return new App({
    context: {
      ...CDK_CONTEXT,
      'aws:cdk:bundling-stacks': [],
      'aws:cdk:version-reporting': true,
      ...context,
    },
  });
}

/** A CloudFormation template as synthesized (the parts the tests read). */
export interface TemplateJson {
  readonly Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  readonly Outputs?: Record<string, unknown>;
  readonly Parameters?: Record<string, unknown>;
  readonly Mappings?: Record<string, unknown>;
  readonly Conditions?: Record<string, unknown>;
}

export interface Deployed {
  readonly app: App;
  readonly stacks: BrokerStacks;
  readonly templates: { readonly stateful: TemplateJson; readonly stateless: TemplateJson };
  /** The template files in the cloud assembly: what `cdk deploy` uploads for CloudFormation to read. */
  readonly templateFiles: { readonly stateful: string; readonly stateless: string };
}

/**
 * The stacks synthesized as infra/app.ts synthesizes them for `cdk deploy`: cdk.json's context,
 * cdk-nag's AwsSolutions checks as a validation plugin and CDK's CloudFormation validation
 * (`@aws-cdk/core:validateAgainstDefaultRules`), so any unacknowledged finding of either throws.
 * @returns the templates as written to the cloud assembly
 */
export function synthesizeAsDeployed(
  config: BrokerConfig = exampleConfig,
  options: BrokerStacksOptions = {},
): Deployed {
  const app = newApp();
  const stacks = buildBrokerStacks(app, config, options);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  const artifact = (stack: Stack) => assembly.getStackByName(stack.stackName);
  return {
    app,
    stacks,
    templates: {
      stateful: artifact(stacks.stateful).template as TemplateJson,
      stateless: artifact(stacks.stateless).template as TemplateJson,
    },
    templateFiles: {
      stateful: artifact(stacks.stateful).templateFullPath,
      stateless: artifact(stacks.stateless).templateFullPath,
    },
  };
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

/** The two functions, by the description each is deployed with. */
export const FUNCTIONS = { ticket: /HTTP API/, refresher: /refresher/ } as const;

/** The statements of a function's role that grant any Secrets Manager action. */
export function secretReaders(template: Template, description: RegExp): Statement[] {
  return functionStatements(template, description).filter((statement) =>
    actionsOf(statement).some((action) => action.startsWith('secretsmanager:')),
  );
}

/** Pseudo parameters as a deployment in one account and region would resolve them. */
export const PSEUDO: Readonly<Record<string, string>> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
};

/**
 * A template value as a string, with pseudo parameters resolved (PSEUDO) and any other reference
 * shown as `{Ref:<id>}` / `{GetAtt:<id>.<attr>}` / `{Import:<name>}`.
 */
export function render(value: unknown, pseudo: Readonly<Record<string, string>> = PSEUDO): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const object = value as Record<string, unknown>;
  if (object && 'Ref' in object) {
    const ref = String(object.Ref);
    return pseudo[ref] ?? `{Ref:${ref}}`;
  }
  if (object && 'Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => render(part, pseudo)).join(separator);
  }
  if (object && 'Fn::GetAtt' in object) {
    const [id, attribute] = object['Fn::GetAtt'] as [string, string];
    return `{GetAtt:${id}.${attribute}}`;
  }
  if (object && 'Fn::ImportValue' in object) return `{Import:${render(object['Fn::ImportValue'], pseudo)}}`;
  return JSON.stringify(value);
}

/** An IAM resource pattern (`*` and `?` wildcards) as a regular expression. */
export function iamPattern(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** The ARN Secrets Manager gives a secret of this name (it appends `-` and 6 random characters). */
export function secretArn(name: string): string {
  return `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
}
