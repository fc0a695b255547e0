/**
 * `npm run lint:templates`: the templates as `cdk deploy` would send them, read by cfn-lint, AWS's
 * CloudFormation linter, the way CloudFormation reads them. For each variant CI checks (the default
 * configuration, a generated 200-connection one, another stack prefix, and a concrete account and
 * region in each supported partition) the real app (infra/app.ts) is started as the CDK CLI starts
 * it, then cfn-lint checks every template against the regions it can be deployed to. Any error or
 * warning fails; a finding is accepted only by a `cfn-lint` metadata entry on the resource, next to
 * the code that explains it.
 *
 * cfn-lint is a Python tool (not on npm, not in Debian): where it is absent this says so in one line
 * and exits 0.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cdkJsonContext } from '../infra/context';
import { generatedConfig } from './generated-config';

const run = promisify(execFile);

/** The partitions the stacks support, one region of each (README "Deploy"). */
const PARTITION_REGIONS = ['us-east-1', 'cn-north-1', 'us-gov-west-1'] as const;
const ACCOUNT = '111122223333';

interface Variant {
  readonly name: string;
  /** Context the CDK CLI would pass (`-c name=value`). */
  readonly context: Readonly<Record<string, unknown>>;
  /** What the CLI sets when it has credentials. */
  readonly environment: Readonly<Record<string, string>>;
  /** The regions the templates must be valid in. */
  readonly regions: readonly string[];
}

interface Finding {
  readonly Level: 'Error' | 'Warning' | 'Informational';
  readonly Rule: { readonly Id: string };
  readonly Message: string;
  readonly Filename: string;
  readonly Location: { readonly Path?: readonly (string | number)[] };
}

function cfnLintVersion(): string | undefined {
  try {
    return execFileSync('cfn-lint', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function synthesize(variant: Variant, outdir: string): Promise<string[]> {
  // A variant without an environment stays environment-agnostic even where the shell sets one.
  const { CDK_DEFAULT_ACCOUNT: _account, CDK_DEFAULT_REGION: _region, ...inherited } = process.env;
  await run(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
    env: {
      ...inherited,
      CDK_OUTDIR: outdir,
      // The templates are what is linted: no bundling.
      CDK_CONTEXT_JSON: JSON.stringify({
        ...cdkJsonContext(),
        'aws:cdk:bundling-stacks': [],
        'aws:cdk:version-reporting': true,
        ...variant.context,
      }),
      ...variant.environment,
    },
    timeout: 120_000,
  });
  return readdirSync(outdir)
    .filter((file) => file.endsWith('.template.json'))
    .map((file) => join(outdir, file));
}

async function lint(templates: readonly string[], regions: readonly string[]): Promise<Finding[]> {
  const args = ['--format', 'json', '--regions', ...regions, '--', ...templates];
  // cfn-lint exits non-zero when it finds something; its findings are on stdout either way.
  const { stdout } = await run('cfn-lint', args, { maxBuffer: 64 * 1024 * 1024 }).catch(
    (error: { stdout?: string; stderr?: string; code?: number }) => {
      if (typeof error.stdout === 'string' && error.stdout.trim().startsWith('['))
        return { stdout: error.stdout };
      throw new Error(`cfn-lint failed (exit ${error.code}): ${error.stderr ?? ''}`);
    },
  );
  return JSON.parse(stdout || '[]') as Finding[];
}

/**
 * A negative control: cfn-lint must report a template over CloudFormation's 200 outputs (E6010),
 * or a clean result below would prove nothing.
 */
async function checkTheLinter(work: string): Promise<void> {
  const file = join(work, 'control.template.json');
  const outputs = Object.fromEntries(
    Array.from({ length: 201 }, (_, i) => [`Output${i}`, { Value: String(i) }]),
  );
  writeFileSync(
    file,
    JSON.stringify({ Resources: { Topic: { Type: 'AWS::SNS::Topic' } }, Outputs: outputs }),
  );
  const findings = await lint([file], ['us-east-1']);
  if (!findings.some((finding) => finding.Rule.Id === 'E6010'))
    throw new Error(
      'cfn-lint did not report a template with 201 outputs (E6010): its results cannot be trusted',
    );
}

/** `work` over `items`, at most `size` at once, results in the items' order. */
async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size)
    results.push(
      ...(await Promise.all(
        items.slice(start, start + size).map((item, offset) => work(item, start + offset)),
      )),
    );
  return results;
}

async function main(): Promise<number> {
  const version = cfnLintVersion();
  if (!version) {
    console.log(
      'lint:templates: cfn-lint is not installed here; templates not linted (pip install cfn-lint)',
    );
    return 0;
  }
  const work = mkdtempSync(join(tmpdir(), 'tb-cfn-lint-'));
  try {
    await checkTheLinter(work);
    const largeConfig = join(work, 'connections-200.json');
    writeFileSync(largeConfig, JSON.stringify(generatedConfig(200), null, 2));
    const variants: Variant[] = [
      { name: 'default configuration', context: {}, environment: {}, regions: PARTITION_REGIONS },
      {
        name: '200 connections',
        context: { config: largeConfig },
        environment: {},
        regions: PARTITION_REGIONS,
      },
      {
        name: 'stack prefix Staging',
        context: { stackPrefix: 'Staging' },
        environment: {},
        regions: PARTITION_REGIONS,
      },
      ...PARTITION_REGIONS.map((region) => ({
        name: `account ${ACCOUNT} in ${region}`,
        context: {},
        environment: { CDK_DEFAULT_ACCOUNT: ACCOUNT, CDK_DEFAULT_REGION: region },
        regions: [region],
      })),
    ];

    // Two at a time: synthesis is mostly one core's work, and CI machines have two.
    const results = await inBatches(variants, 2, async (variant, index) => {
      const files = await synthesize(variant, join(work, `out-${index}`));
      return { variant, files, findings: await lint(files, variant.regions) };
    });
    let templates = 0;
    const failures: Finding[] = [];
    for (const { variant, files, findings } of results) {
      templates += files.length;
      const errors = findings.filter((finding) => finding.Level === 'Error').length;
      const warnings = findings.filter((finding) => finding.Level === 'Warning').length;
      console.log(
        `lint:templates: ${variant.name}: ${files.length} templates, ${errors} errors, ${warnings} warnings (regions ${variant.regions.join(' ')})`,
      );
      failures.push(...findings.filter((finding) => finding.Level !== 'Informational'));
    }
    for (const finding of failures)
      console.log(
        `  ${finding.Level} ${finding.Rule.Id} ${finding.Filename.replace(work, '')} ${(finding.Location.Path ?? []).join('/')}: ${finding.Message}`,
      );
    console.log(
      `lint:templates: ${version}: ${templates} templates, ${failures.filter((f) => f.Level === 'Error').length} errors, ${failures.filter((f) => f.Level === 'Warning').length} warnings`,
    );
    return failures.length === 0 ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`lint:templates: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
