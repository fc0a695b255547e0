import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildBrokerStacks } from '../../infra/broker-app';
import { loadBrokerConfigFile } from '../../infra/config-file';

/**
 * No secret value reaches a synthesized template or anything else in the cloud assembly: fake
 * credentials are put where a careless app might pick them up (environment variables, a secrets
 * file next to the configuration) and searched for in every file synthesis writes.
 */
const CANARIES = {
  CLIENT_SECRET: 'canary-client-secret-9z8y7x6w',
  ASTRATO_CLIENT_SECRET: 'canary-astrato-0f9e8d7c6b5a',
  OMS_CLIENT_SECRET: 'canary-oms-1a2b3c4d5e6f',
  ASTRATO_CLIENT_ID: 'canary-astrato-client-id-77aa',
  AWS_SECRET_ACCESS_KEY: 'canaryAwsSecretAccessKey0123456789abcdef',
};

let dir: string;
const savedEnv = { ...process.env };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-infra-leak-'));
});
afterAll(() => {
  process.env = savedEnv;
  rmSync(dir, { recursive: true, force: true });
});

function filesUnder(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

it('fake secrets in the environment and in a secrets file beside the config appear nowhere in the cloud assembly', () => {
  const configDir = join(dir, 'config');
  const outdir = join(dir, 'cdk.out');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'connections.json'), readFileSync('config/connections.json'));
  writeFileSync(
    join(configDir, 'secrets.json'),
    JSON.stringify({
      astrato: { clientId: CANARIES.ASTRATO_CLIENT_ID, clientSecret: CANARIES.ASTRATO_CLIENT_SECRET },
      oms: { clientId: 'oms-client', clientSecret: CANARIES.OMS_CLIENT_SECRET },
    }),
  );
  writeFileSync(join(configDir, '.env'), `CLIENT_SECRET=${CANARIES.CLIENT_SECRET}\n`);
  Object.assign(process.env, CANARIES);

  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  buildBrokerStacks(app, loadBrokerConfigFile(join(configDir, 'connections.json')), {
    configPath: join(configDir, 'connections.json'),
  });
  app.synth();

  const files = filesUnder(outdir);
  expect(files.filter((file) => file.endsWith('.template.json'))).toHaveLength(2);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const value of Object.values(CANARIES))
      expect({ file, leaked: text.includes(value) }).toEqual({ file, leaked: false });
    if (file.endsWith('.template.json')) expect(text).not.toMatch(/"SecretString"/);
  }
});
