import { Stack, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { exampleConfig, newApp, synthesize } from './support';

/**
 * cdk-nag's AwsSolutions pack over both stacks, as infra/app.ts applies it on every synth: no
 * unacknowledged error or warning, and every acknowledgment has a reason and answers a finding
 * that really occurs (no blanket suppression).
 */
interface Acknowledgment {
  readonly path: string;
  readonly rule: string;
  readonly reason: string;
}

function acknowledgments(root: IConstruct): Acknowledgment[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([rule, reason]) => ({
          path: construct.node.path,
          rule: rule.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

function findings(root: IConstruct): { rule: string; severity: string; paths: string[] }[] {
  return new AwsSolutionsChecks(root).validateScope(root).violations.map((violation) => ({
    rule: violation.ruleName,
    severity: violation.severity ?? 'unknown',
    paths: violation.violatingResources.map((resource) => resource.constructPath ?? '(no path)'),
  }));
}

describe('cdk-nag AwsSolutions', () => {
  it('finds no unacknowledged error or warning in either stack', () => {
    const { app } = synthesize(exampleConfig, { stateless: { alarmEmail: 'ops@example.com' } });
    expect(findings(app)).toEqual([]);
  });

  it('finds nothing with every optional feature on: provisioned concurrency, a custom domain, another prefix', () => {
    const { app } = synthesize(exampleConfig, {
      prefix: 'Staging',
      stateless: {
        provisionedConcurrency: 2,
        customDomain: {
          domainName: 'broker.example.com',
          certificateArn:
            'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666',
          path: 'broker',
        },
      },
    });
    expect(findings(app)).toEqual([]);
  });

  it('every acknowledgment gives a reason and answers a finding that occurs without it', () => {
    const { app } = synthesize();
    const acknowledged = acknowledgments(app);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { rule, reason } of acknowledged) {
      expect(rule).toMatch(/^AwsSolutions-[A-Z]+\d+/);
      expect(reason.length).toBeGreaterThan(60);
    }

    // The same app with acknowledgments ignored: each one must cover a real finding under its construct.
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => undefined);
    try {
      const bare = synthesize();
      const raw = findings(bare.app);
      for (const { path, rule } of acknowledged) {
        const finding = raw.find((candidate) => candidate.rule === rule);
        expect({
          rule,
          path,
          covers: finding?.paths.some((p) => p === path || p.startsWith(`${path}/`)),
        }).toEqual({
          rule,
          path,
          covers: true,
        });
      }
      // And nothing is found that no acknowledgment answers.
      for (const finding of raw)
        expect({
          rule: finding.rule,
          acknowledged: acknowledged.some((a) => a.rule === finding.rule),
        }).toEqual({
          rule: finding.rule,
          acknowledged: true,
        });
    } finally {
      spy.mockRestore();
    }
  });

  it('reports a finding when there is one (the check can fail)', () => {
    const app = newApp();
    new Secret(new Stack(app, 'Careless'), 'NoRotation');
    expect(findings(app).map((finding) => finding.rule)).toContain('AwsSolutions-SMG4');
  });
});
