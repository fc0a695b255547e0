import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The real app from cdk.json, as a platform team runs it: `cdk synth` offline, with no AWS
 * credentials and no Docker, bundling both functions with the local esbuild.
 */
const run = promisify(execFile);
const CDK = 'node_modules/.bin/cdk';
let out: string;

function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CDK_DISABLE_VERSION_CHECK: '1',
  };
  return env; // no AWS_* credentials, no region: the app must not need them
}

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'tb-cdk-out-'));
});

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

describe('cdk synth of the real app', () => {
  it('synthesizes both stacks offline, with both functions bundled', async () => {
    const { stdout, stderr } = await run(CDK, ['synth', '-q', '-o', out], {
      env: offlineEnv(),
      timeout: 120_000,
    });
    expect(`${stdout}${stderr}`).not.toMatch(/AwsSolutions-|Validation failed/);
    const files = readdirSync(out);
    expect(files).toEqual(
      expect.arrayContaining(['TicketBrokerStateful.template.json', 'TicketBrokerApi.template.json']),
    );
    const bundles = files.filter(
      (file) => file.startsWith('asset.') && existsSync(join(out, file, 'index.js')),
    );
    expect(bundles.length).toBe(2);
    for (const bundle of bundles) {
      const code = readFileSync(join(out, bundle, 'index.js'), 'utf8');
      expect(code.length).toBeGreaterThan(100_000);
      expect(existsSync(join(out, bundle, 'index.js.map'))).toBe(true);
    }
  }, 150_000);

  it('refuses a bad configuration with one message naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-cdk-config-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        connections: { astrato: { kind: 'astrato-oem', baseUrl: 'http://app.astrato.io', secretId: 'x' } },
      }),
    );
    try {
      const failure = await run(CDK, ['synth', '-q', '-o', join(dir, 'out'), '-c', `config=${bad}`], {
        env: offlineEnv(),
        timeout: 120_000,
      }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code).not.toBe(0);
      expect(failure?.stderr).toContain('connections.astrato.baseUrl: must use https');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
