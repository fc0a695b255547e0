import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BrokerFunction } from '../../infra/constructs/broker-function';
import {
  exampleConfig,
  functionStatements,
  generatedConfig,
  newApp,
  statements,
  synthesize,
} from './support';

/**
 * AWS limits the local stand-ins do not enforce, checked on the synthesized templates: Lambda's
 * 4 KB environment, IAM's 10,240 characters of inline policy per role, CloudFormation's 500
 * resources per stack and 1 MB template. A generated 200-connection configuration must fit all.
 */
const LIMITS = {
  environmentBytes: 4096,
  inlinePolicyChars: 10_240,
  resourcesPerStack: 500,
  templateBytes: 1024 * 1024,
} as const;

/** What a value CloudFormation resolves at deploy time is counted as (an ARN or a name, generously). */
const DEPLOY_TIME_CHARS = 255;

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'ap-southeast-2',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
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
  readonly environmentBytes: Record<string, number>;
  readonly inlinePolicyChars: Record<string, number>;
  readonly resources: Record<string, number>;
  readonly templateBytes: Record<string, number>;
}

function measure(built: ReturnType<typeof synthesize>): Measured {
  const templates = { stateful: built.stateful, stateless: built.stateless };
  const measured: Measured = {
    environmentBytes: {},
    inlinePolicyChars: {},
    resources: {},
    templateBytes: {},
  };
  for (const [name, template] of Object.entries(templates)) {
    const json = template.toJSON() as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    measured.resources[name] = Object.keys(json.Resources).length;
    // As the CDK writes it (one space of indentation), which is what CloudFormation receives.
    measured.templateBytes[name] = Buffer.byteLength(JSON.stringify(json, undefined, 1), 'utf8');
    for (const [id, resource] of Object.entries(json.Resources)) {
      if (resource.Type === 'AWS::Lambda::Function') {
        const variables =
          (resource.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {};
        measured.environmentBytes[id] = Object.entries(variables).reduce(
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
          measured.inlinePolicyChars[role.Ref] = (measured.inlinePolicyChars[role.Ref] ?? 0) + chars;
        }
      }
    }
  }
  return measured;
}

const max = (values: Record<string, number>) => Math.max(...Object.values(values));

describe('a 200-connection configuration', () => {
  const built = synthesize(generatedConfig(200));
  const measured = measure(built);

  it('synthesizes both stacks within every limit', () => {
    // The figures, for the record (README "Deploy" quotes them).
    process.stdout.write(`200 connections: ${JSON.stringify(measured)}\n`);
    expect(max(measured.environmentBytes)).toBeLessThanOrEqual(LIMITS.environmentBytes);
    expect(max(measured.inlinePolicyChars)).toBeLessThanOrEqual(LIMITS.inlinePolicyChars);
    expect(max(measured.resources)).toBeLessThanOrEqual(LIMITS.resourcesPerStack);
    expect(max(measured.templateBytes)).toBeLessThanOrEqual(LIMITS.templateBytes);
    expect(Object.keys(measured.environmentBytes)).toHaveLength(2);
    expect(Object.keys(measured.inlinePolicyChars)).toHaveLength(2);
  });

  it('the functions’ environment and inline policies do not grow with the number of connections', () => {
    const small = measure(synthesize(exampleConfig));
    expect(Object.values(measured.environmentBytes).sort()).toEqual(
      Object.values(small.environmentBytes).sort(),
    );
    expect(Object.values(measured.inlinePolicyChars).sort()).toEqual(
      Object.values(small.inlinePolicyChars).sort(),
    );
  });

  it('keeps every role’s policies inline: no overflow into managed policies', () => {
    const { stateless } = built;
    stateless.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    for (const fn of [/HTTP API/, /refresher/]) {
      const secretStatements = functionStatements(stateless, fn).filter((statement) =>
        JSON.stringify(statement.Action).includes('secretsmanager:'),
      );
      expect(secretStatements).toHaveLength(1);
    }
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
