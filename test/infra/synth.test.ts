import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BUNDLE_BUDGET_BYTES } from '../../infra/bundling';
import { parseBrokerConfigJson } from '../../shared/config/schema';

/**
 * The real app from cdk.json, as a platform team runs it: `node_modules/.bin/cdk synth` with no AWS
 * credentials, no region, no Docker, a fresh home directory and, where this machine allows it, no
 * network at all (a new network namespace via `unshare`). Both functions are bundled by the local
 * esbuild. One full run only: bundling takes several seconds.
 */
const run = promisify(execFile);
const CDK = 'node_modules/.bin/cdk';
const CANARY = 'canary-env-secret-5f4e3d2c1b';

/** `unshare -n` (as root) or `unshare -rn` (user namespace), if this machine permits one. */
function isolation(): string[] {
  for (const args of [['-n'], ['-rn']]) {
    try {
      execFileSync('unshare', [...args, 'true'], { stdio: 'ignore' });
      return ['unshare', ...args];
    } catch {
      // not permitted here; try the next form, else run without a network namespace
    }
  }
  return [];
}

let home: string;
let work: string;
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'tb-cdk-home-'));
  work = mkdtempSync(join(tmpdir(), 'tb-cdk-out-'));
});
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

function cdk(args: string[]) {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    CDK_DISABLE_VERSION_CHECK: '1',
    // A secret-looking value in the environment: it must not reach the cloud assembly.
    CLIENT_SECRET: CANARY,
  };
  const [command, ...prefix] = [...isolation(), CDK];
  return run(command as string, [...prefix, ...args], { env, timeout: 120_000 });
}

function filesUnder(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('cdk synth of the real app (cdk.json)', () => {
  it('synthesizes both stacks offline with the example config, both functions bundled with source maps', async () => {
    const out = join(work, 'cdk.out');
    const { stdout, stderr } = await cdk(['synth', '-q', '-o', out]);
    expect(`${stdout}${stderr}`).not.toMatch(/AwsSolutions-|Validation failed|error/i);
    // Every feature flag is configured in cdk.json (README "Deploy"), so the CLI prints no reminder.
    expect(`${stdout}${stderr}`).not.toMatch(/feature flags? (is|are) not configured/i);

    const files = readdirSync(out);
    expect(files).toEqual(
      expect.arrayContaining(['TicketBrokerStateful.template.json', 'TicketBrokerApi.template.json']),
    );
    const api = JSON.parse(readFileSync(join(out, 'TicketBrokerApi.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { Runtime?: string; Code?: unknown } }>;
    };
    const functions = Object.values(api.Resources).filter(
      (resource) => resource.Type === 'AWS::Lambda::Function',
    );
    expect(functions.map((fn) => fn.Properties.Runtime)).toEqual(['nodejs22.x', 'nodejs22.x']);

    const bundles = files.filter(
      (file) => file.startsWith('asset.') && existsSync(join(out, file, 'index.js')),
    );
    expect(bundles).toHaveLength(2);
    for (const bundle of bundles) {
      const code = readFileSync(join(out, bundle, 'index.js'), 'utf8');
      expect(code.length).toBeGreaterThan(100_000);
      // CDK's own esbuild run applies the same settings as the bundle test (the aliases included).
      expect(Buffer.byteLength(code)).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
      expect(code).not.toContain('fromSSO');
      expect(code).toMatch(/sourceMappingURL=index\.js\.map\s*$/);
      expect(existsSync(join(out, bundle, 'index.js.map'))).toBe(true);
      // The validated configuration travels in the code, each secretId the deployed secret's name.
      const config = parseBrokerConfigJson(readFileSync(join(out, bundle, 'broker-config.json'), 'utf8'));
      expect(
        Object.values(config.connections)
          .map((connection) => connection.secretId)
          .sort(),
      ).toEqual(['TicketBroker/ticket-broker/astrato', 'TicketBroker/ticket-broker/oms']);
    }
    // ... and not in the template.
    expect(JSON.stringify(api)).not.toContain('astoresuite.com');

    for (const file of filesUnder(out))
      expect({ file, leaked: readFileSync(file, 'utf8').includes(CANARY) }).toEqual({
        file,
        leaked: false,
      });
  }, 150_000);

  it('refuses a bad configuration given with -c config=..., with one message naming the field', async () => {
    const bad = join(work, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        connections: { astrato: { kind: 'astrato-oem', baseUrl: 'http://app.astrato.io', secretId: 'x' } },
      }),
    );
    const failure = await cdk(['synth', '-q', '-o', join(work, 'bad.out'), '-c', `config=${bad}`]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).not.toBe(0);
    expect(failure?.stderr).toContain(
      `ticket-broker: invalid configuration (${bad}): connections.astrato.baseUrl: must use https`,
    );
    expect(failure?.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  }, 150_000);

  it('refuses an unusable context flag with one message naming it', async () => {
    const failure = await cdk(['synth', '-q', '-o', join(work, 'flag.out'), '-c', 'throttleRate=fast']).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).not.toBe(0);
    expect(failure?.stderr).toContain('ticket-broker: -c throttleRate=fast: a positive number is expected');
    expect(failure?.stderr).not.toMatch(/\n\s+at /);
  }, 150_000);
});
