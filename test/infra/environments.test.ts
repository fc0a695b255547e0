import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App, ArnFormat, CfnOutput, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { wildcardResourceFinding } from '../../infra/nag';
import {
  CDK_CONTEXT,
  exampleConfig,
  FUNCTIONS,
  functionStatements,
  iamPattern,
  newApp,
  render,
  resourcesOf,
  secretReaders,
  synthesizeAsDeployed,
  type TemplateJson,
} from './support';

/**
 * The app as `cdk deploy` synthesizes it. With credentials the CDK CLI sets CDK_DEFAULT_ACCOUNT and
 * CDK_DEFAULT_REGION, and infra/app.ts gives both stacks that environment: names, ARNs, conditions
 * and cdk-nag's acknowledgments must then hold with a concrete account and region in each
 * partition the stacks support, as well as environment-agnostic (`cdk synth` without credentials).
 */
const ACCOUNT = '111122223333';

const PARTITIONS = [
  { partition: 'aws', region: 'us-east-1', urlSuffix: 'amazonaws.com' },
  { partition: 'aws-cn', region: 'cn-north-1', urlSuffix: 'amazonaws.com.cn' },
  { partition: 'aws-us-gov', region: 'us-gov-west-1', urlSuffix: 'amazonaws.com' },
] as const;

type Target = (typeof PARTITIONS)[number];

/** Every ARN written out in a template, as text (`arn:<partition>:...`). */
function literalArnPartitions(template: TemplateJson): string[] {
  return [...JSON.stringify(template).matchAll(/"arn:([a-z-]+):/g)].map((match) => match[1] as string);
}

describe.each(PARTITIONS)('with an account and region in $partition ($region)', (target: Target) => {
  const env = { account: ACCOUNT, region: target.region };
  const pseudo = {
    'AWS::Partition': target.partition,
    'AWS::Region': target.region,
    'AWS::AccountId': ACCOUNT,
    'AWS::URLSuffix': target.urlSuffix,
  };
  // Throws on any unacknowledged cdk-nag finding or CloudFormation validation finding.
  const deployed = synthesizeAsDeployed(exampleConfig, { env });

  it('synthesizes with cdk-nag and CloudFormation validation clean', () => {
    expect(new AwsSolutionsChecks(deployed.app).validateScope(deployed.app).violations).toEqual([]);
    expect(deployed.stacks.stateful.region).toBe(target.region);
    expect(deployed.stacks.stateless.account).toBe(ACCOUNT);
  });

  it('writes every ARN in its own partition', () => {
    const partitions = Object.values(deployed.templates).flatMap(literalArnPartitions);
    // With an environment the ARNs are written out (the secrets' pattern, the roles' policies).
    expect(partitions.length).toBeGreaterThan(0);
    expect(new Set(partitions)).toEqual(new Set([target.partition]));
  });

  it('lets both functions read exactly the deployment’s secrets, through Secrets Manager in this region', () => {
    const template = deployed.templates.stateless;
    for (const fn of Object.values(FUNCTIONS)) {
      const statements = functionStatements(Template.fromJSON(template as never), fn);
      const secretReads = secretReaders(Template.fromJSON(template as never), fn);
      expect(secretReads).toHaveLength(1);
      const [pattern] = resourcesOf(secretReads[0] as never).map((r) => iamPattern(render(r, pseudo)));
      const arn = (name: string) =>
        `arn:${target.partition}:secretsmanager:${target.region}:${ACCOUNT}:secret:${name}-AbCdEf`;
      expect(pattern?.test(arn('TicketBroker/ticket-broker/oms'))).toBe(true);
      expect(pattern?.test(arn('Other/ticket-broker/oms'))).toBe(false);
      expect(pattern?.test(arn('TicketBroker/ticket-broker/oms').replace(ACCOUNT, '444455556666'))).toBe(
        false,
      );

      const viaServices = statements
        .filter((s) => s.Condition?.StringEquals?.['kms:ViaService'] !== undefined)
        .map((s) => render(s.Condition?.StringEquals?.['kms:ViaService'], pseudo))
        .sort();
      expect(viaServices).toEqual(
        [
          `dynamodb.${target.region}.${target.urlSuffix}`,
          `secretsmanager.${target.region}.${target.urlSuffix}`,
        ].sort(),
      );
    }
  });

  it('names the dashboard after the region', () => {
    const dashboards = Object.values(deployed.templates.stateless.Resources).filter(
      (resource) => resource.Type === 'AWS::CloudWatch::Dashboard',
    );
    expect(dashboards.map((d) => render(d.Properties?.DashboardName, pseudo))).toEqual([
      `TicketBroker-${target.region}`,
    ]);
  });
});

describe('environment-agnostic (cdk synth without credentials)', () => {
  const deployed = synthesizeAsDeployed(exampleConfig);

  it('synthesizes with cdk-nag and CloudFormation validation clean, every ARN built from AWS::Partition', () => {
    expect(new AwsSolutionsChecks(deployed.app).validateScope(deployed.app).violations).toEqual([]);
    for (const template of Object.values(deployed.templates))
      expect(literalArnPartitions(template)).toEqual([]);
  });
});

describe('the real app (infra/app.ts), started the way the CDK CLI starts it', () => {
  const run = promisify(execFile);
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'tb-app-env-'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  /** The app as a child process, with what the CLI passes: the environment, the output dir, the context. */
  async function app(variables: Record<string, string>) {
    const out = mkdtempSync(join(outdir, 'out-'));
    return run(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      env: {
        PATH: process.env.PATH,
        HOME: outdir,
        CDK_OUTDIR: out,
        // The CLI passes cdk.json's context; bundling is skipped: these runs look at templates.
        CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] }),
        ...variables,
      },
      timeout: 60_000,
    }).then(
      ({ stderr }) => ({ code: 0, stderr, out }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr, out }),
    );
  }

  it.each([
    ...PARTITIONS.map(({ partition, region }) => ({ partition, region })),
    { partition: 'none (environment-agnostic)', region: '' },
  ])(
    'exits 0 with CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION in $partition',
    async ({ region }) => {
      const result = await app(region ? { CDK_DEFAULT_ACCOUNT: ACCOUNT, CDK_DEFAULT_REGION: region } : {});
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      const template = readFileSync(join(result.out, 'TicketBrokerApi.template.json'), 'utf8');
      if (region) expect(template).toContain(`:${region}:${ACCOUNT}:`);
      else expect(template).not.toContain(ACCOUNT);
    },
    90_000,
  );
});

describe('the validators fail synthesis (negative controls)', () => {
  it('CDK’s CloudFormation validation refuses a template over CloudFormation’s 200 outputs', () => {
    const app = newApp();
    const stack = new Stack(app, 'TooManyOutputs');
    for (let i = 0; i < 201; i += 1) new CfnOutput(stack, `Output${i}`, { value: String(i) });
    expect(() => app.synth()).toThrow(/201 outputs, maximum is 200/);
  });

  it('cdk-nag still reports a wildcard whose acknowledgment was written for another environment', () => {
    const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Pinned', { env: { account: ACCOUNT, region: 'us-east-1' } });
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    const resource = stack.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: 'P/*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [resource] }),
    );
    // The id as written for an environment-agnostic stack: it does not match this one's finding.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:P/*]',
      reason: 'written for the environment-agnostic template',
    });
    const findings = () =>
      new AwsSolutionsChecks(app)
        .validateScope(app)
        .violations.filter((v) => v.ruleName.startsWith('AwsSolutions-IAM5'));
    expect(findings()).toHaveLength(1);
    // Built from the statement's own value, it matches.
    Validations.of(role).acknowledge({
      id: wildcardResourceFinding(role, resource),
      reason: 'the same value',
    });
    expect(findings()).toEqual([]);
  });
});
