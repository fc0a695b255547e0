import { readFileSync, statSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BrokerFunction } from '../../infra/constructs/broker-function';
import { CLOUDFORMATION_TEMPLATE_QUOTAS, MAX_CONNECTIONS } from '../../infra/stateful-stack';
import {
  type Deployed,
  exampleConfig,
  FUNCTIONS,
  generatedConfig,
  newApp,
  secretReaders,
  statements,
  synthesize,
  synthesizeAsDeployed,
  type TemplateJson,
} from './support';

/**
 * AWS limits the local stand-ins do not enforce, checked on the templates as `cdk deploy` writes
 * them: every CloudFormation template quota (resources, outputs, parameters, mappings, template
 * body) in both stacks, Lambda's 4 KB environment and IAM's 10,240 characters of inline policy per
 * role, at 1, 2 and 200 connections and at the maximum the README states, environment-agnostic and
 * with an account and region.
 */
const LIMITS = {
  environmentBytes: 4096,
  inlinePolicyChars: 10_240,
} as const;

/** The maximum the README's Deploy section states, as it states it. */
const README_MAXIMUM = (() => {
  const match = /The maximum is ([\d,]+) connections per deployment/.exec(readFileSync('README.md', 'utf8'));
  if (!match?.[1])
    throw new Error('README.md no longer states "The maximum is N connections per deployment"');
  return Number(match[1].replaceAll(',', ''));
})();

/** What a value CloudFormation resolves at deploy time is counted as (an ARN or a name, generously). */
const DEPLOY_TIME_CHARS = 255;

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws-us-gov',
  'AWS::Region': 'ap-southeast-2',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com.cn',
};

/** A template value with every deploy-time value replaced by a string of its longest plausible length. */
function resolved(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolved);
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]?.startsWith('Fn::'))) {
    if (keys[0] === 'Ref' && PSEUDO[String(object.Ref)]) return PSEUDO[String(object.Ref)];
    if (keys[0] === 'Fn::Join') {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => String(resolved(part))).join(separator);
    }
    return 'x'.repeat(DEPLOY_TIME_CHARS);
  }
  return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, resolved(inner)]));
}

interface Measured {
  readonly resources: number;
  readonly outputs: number;
  readonly parameters: number;
  readonly mappings: number;
  readonly bodyBytes: number;
  readonly environmentBytes: Record<string, number>;
  readonly inlinePolicyChars: Record<string, number>;
}

function measure(template: TemplateJson, file: string): Measured {
  const environmentBytes: Record<string, number> = {};
  const inlinePolicyChars: Record<string, number> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type === 'AWS::Lambda::Function') {
      const variables =
        (resource.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {};
      environmentBytes[id] = Object.entries(variables).reduce(
        (total, [key, value]) =>
          total +
          Buffer.byteLength(key) +
          (typeof value === 'string' ? Buffer.byteLength(value) : DEPLOY_TIME_CHARS),
        0,
      );
    }
    if (resource.Type === 'AWS::IAM::Policy') {
      for (const role of (resource.Properties?.Roles ?? []) as { Ref: string }[]) {
        // IAM counts characters without white space.
        const chars = JSON.stringify(resolved(resource.Properties?.PolicyDocument)).length;
        inlinePolicyChars[role.Ref] = (inlinePolicyChars[role.Ref] ?? 0) + chars;
      }
    }
  }
  return {
    resources: Object.keys(template.Resources).length,
    outputs: Object.keys(template.Outputs ?? {}).length,
    parameters: Object.keys(template.Parameters ?? {}).length,
    mappings: Object.keys(template.Mappings ?? {}).length,
    // The file the CDK uploads to S3 and CloudFormation reads.
    bodyBytes: statSync(file).size,
    environmentBytes,
    inlinePolicyChars,
  };
}

function measureBoth(deployed: Deployed): { stateful: Measured; stateless: Measured } {
  return {
    stateful: measure(deployed.templates.stateful, deployed.templateFiles.stateful),
    stateless: measure(deployed.templates.stateless, deployed.templateFiles.stateless),
  };
}

const max = (values: Record<string, number>) => Math.max(...Object.values(values));

const ENVIRONMENTS = [
  { name: 'environment-agnostic', options: {} },
  { name: 'in us-east-1', options: { env: { account: '111122223333', region: 'us-east-1' } } },
] as const;

it('the README states the maximum the stacks enforce', () => {
  expect(README_MAXIMUM).toBe(MAX_CONNECTIONS);
});

describe.each([1, 2, 200, README_MAXIMUM])('%i connections', (count) => {
  describe.each(ENVIRONMENTS)('$name', ({ options }) => {
    // Synthesized with cdk-nag and CDK's CloudFormation validation on: either finding throws.
    const deployed = synthesizeAsDeployed(generatedConfig(count), options);
    const measured = measureBoth(deployed);

    it('both templates are within every CloudFormation template quota', () => {
      // The figures, for the record (README "Deploy" quotes them).
      process.stdout.write(`${count} connections ${JSON.stringify(measured)}\n`);
      for (const stack of [measured.stateful, measured.stateless]) {
        expect(stack.resources).toBeLessThanOrEqual(CLOUDFORMATION_TEMPLATE_QUOTAS.resources);
        expect(stack.outputs).toBeLessThanOrEqual(CLOUDFORMATION_TEMPLATE_QUOTAS.outputs);
        expect(stack.parameters).toBeLessThanOrEqual(CLOUDFORMATION_TEMPLATE_QUOTAS.parameters);
        expect(stack.mappings).toBeLessThanOrEqual(CLOUDFORMATION_TEMPLATE_QUOTAS.mappings);
        expect(stack.bodyBytes).toBeLessThanOrEqual(CLOUDFORMATION_TEMPLATE_QUOTAS.bodyBytes);
      }
    });

    it('the functions’ environment and inline policies are within Lambda’s and IAM’s limits', () => {
      expect(Object.keys(measured.stateless.environmentBytes)).toHaveLength(2);
      expect(Object.keys(measured.stateless.inlinePolicyChars)).toHaveLength(2);
      expect(max(measured.stateless.environmentBytes)).toBeLessThanOrEqual(LIMITS.environmentBytes);
      expect(max(measured.stateless.inlinePolicyChars)).toBeLessThanOrEqual(LIMITS.inlinePolicyChars);
    });

    it('holds one secret per connection, and outputs, environment and policies that do not grow with them', () => {
      // Two connections: one of each kind, so every optional output (the token caller's) is there.
      const two = measureBoth(synthesizeAsDeployed(generatedConfig(2), options));
      expect(measured.stateful.resources - two.stateful.resources).toBe(count - 2);
      const secrets = Object.values(deployed.templates.stateful.Resources).filter(
        (resource) => resource.Type === 'AWS::SecretsManager::Secret',
      );
      expect(secrets).toHaveLength(count);
      expect(measured.stateless.resources).toBe(two.stateless.resources);
      expect(measured.stateful.outputs).toBeLessThanOrEqual(two.stateful.outputs);
      expect(measured.stateless.outputs).toBe(two.stateless.outputs);
      expect(Object.values(measured.stateless.environmentBytes).sort()).toEqual(
        Object.values(two.stateless.environmentBytes).sort(),
      );
      expect(Object.values(measured.stateless.inlinePolicyChars).sort()).toEqual(
        Object.values(two.stateless.inlinePolicyChars).sort(),
      );
    });
  });
});

it('one connection more than the maximum stops synthesis with a message saying why', () => {
  expect(() => synthesize(generatedConfig(MAX_CONNECTIONS + 1))).toThrow(
    `the configuration has ${MAX_CONNECTIONS + 1} connections; one deployment holds at most ${MAX_CONNECTIONS}`,
  );
});

describe('a 200-connection configuration', () => {
  const built = synthesize(generatedConfig(200));

  it('keeps every role’s policies inline: no overflow into managed policies', () => {
    const { stateless } = built;
    stateless.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    for (const fn of Object.values(FUNCTIONS)) expect(secretReaders(stateless, fn)).toHaveLength(1);
    expect(statements(stateless).length).toBeLessThan(20);
  });

  it('puts no connection setting in the API stack’s template (it travels in the code asset)', () => {
    const text = JSON.stringify(built.stateless.toJSON());
    expect(text).not.toContain('partner.example.com');
    expect(text).not.toContain('tokenUrl');
    expect(text).not.toContain('eu.astrato.io');
  });
});

it('fails synthesis, naming the function, when its environment would pass 4 KB', () => {
  const app = newApp();
  const stack = new Stack(app, 'Oversized');
  new BrokerFunction(stack, 'Fn', {
    entry: 'functions/issue-ticket/handler.ts',
    description: 'oversized environment',
    serviceName: 'issue-ticket',
    config: exampleConfig,
    environment: { EXTRA_SETTINGS: 'x'.repeat(4000) },
  });
  expect(() => Template.fromStack(stack)).toThrow(
    /the environment of Oversized\/Fn would be \d+ bytes, over Lambda's limit of 4096/,
  );
});
