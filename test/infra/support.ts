import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type BrokerStacks, type BrokerStacksOptions, buildBrokerStacks } from '../../infra/broker-app';
import { loadBrokerConfigFile } from '../../infra/config-file';
import { type BrokerConfig, parseBrokerConfig } from '../../shared/config/schema';

/** The example configuration shipped in config/connections.json (Astrato and the OMS realm). */
export const exampleConfig: BrokerConfig = loadBrokerConfigFile('config/connections.json');

/** The context of cdk.json (feature flags included): what the real app synthesizes with. */
export const CDK_CONTEXT = (
  JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Record<string, unknown> }
).context;

/**
 * An app with cdk.json's context that skips bundling: these tests look at templates, not at the
 * function code.
 */
export function newApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context } });
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

/** Pseudo parameters as a deployment in one account and region would resolve them. */
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
};

/**
 * A template value as a string, with pseudo parameters resolved (PSEUDO) and any other reference
 * shown as `{Ref:<id>}` / `{GetAtt:<id>.<attr>}` / `{Import:<name>}`.
 */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const object = value as Record<string, unknown>;
  if (object && 'Ref' in object) {
    const ref = String(object.Ref);
    return PSEUDO[ref] ?? `{Ref:${ref}}`;
  }
  if (object && 'Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  if (object && 'Fn::GetAtt' in object) {
    const [id, attribute] = object['Fn::GetAtt'] as [string, string];
    return `{GetAtt:${id}.${attribute}}`;
  }
  if (object && 'Fn::ImportValue' in object) return `{Import:${render(object['Fn::ImportValue'])}}`;
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

/**
 * A configuration of `count` connections, alternating Astrato and OAuth 2.0 ones, with realistic
 * (long) URLs and scopes: what a large deployment's file looks like.
 */
export function generatedConfig(count: number): BrokerConfig {
  const connections: Record<string, unknown> = {};
  for (let i = 0; i < count; i += 1) {
    const id = `partner-${String(i).padStart(3, '0')}`;
    connections[id] =
      i % 2 === 0
        ? {
            kind: 'astrato-oem',
            baseUrl: `https://tenant-${i}.eu.astrato.io`,
            secretId: `ticket-broker/${id}`,
            embedUrlTemplate: '{baseUrl}/auth/proxy/oem/ticket/{ticketId}/embed',
          }
        : {
            kind: 'oauth2-client-credentials',
            tokenUrl: `https://identity-${i}.partner.example.com/auth/realms/partner-${i}/protocol/openid-connect/token`,
            clientAuth: 'client_secret_basic',
            scope: 'orders:read orders:write inventory:read',
            secretId: `ticket-broker/${id}`,
            probeUrl: `https://api-${i}.partner.example.com/oms-api/`,
            vendable: i % 4 === 1,
          };
  }
  return parseBrokerConfig({ connections, refresh: { hardSkewSeconds: 30, minWindowSeconds: 120 } });
}
