import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadBrokerConfigFile } from '../../infra/config-file';
import { StatefulStack } from '../../infra/stateful-stack';
import { generatedConfig } from '../../scripts/generated-config';
import { runScript, type ScriptResult } from '../support/child-process';

/**
 * `npm run secrets -- list` as an operator runs it after a deployment (the stateful stack's output
 * PutSecretsCommand): one put command per connection, naming exactly the secrets the stack creates.
 */
let dir: string;
let configPath: string;
const config = generatedConfig(5);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-secrets-'));
  configPath = join(dir, 'connections.json');
  writeFileSync(configPath, JSON.stringify(config));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secrets(...args: string[]): Promise<ScriptResult> {
  return secretsWith({}, ...args);
}

function secretsWith(variables: Record<string, string>, ...args: string[]): Promise<ScriptResult> {
  return runScript('scripts/secrets.ts', args, { PATH: process.env.PATH, HOME: dir, ...variables });
}

/** The secret names the stateful stack of this configuration and prefix creates. */
function stackSecretNames(prefix: string, configFile?: string): string[] {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new StatefulStack(app, `${prefix}Stateful`, {
    config: configFile ? loadBrokerConfigFile(configFile) : config,
    namePrefix: prefix,
  });
  return Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret'))
    .map((secret) => (secret as { Properties: { Name: string } }).Properties.Name)
    .sort();
}

it('prints one put command per connection, for exactly the secrets the stack creates', async () => {
  const result = await secrets(
    'list',
    '--region',
    'eu-west-1',
    '--stack-prefix',
    'Staging',
    '--config',
    configPath,
  );
  expect(result.code).toBe(0);
  const commands = result.stdout.split('\n').filter((line) => line.startsWith('aws '));
  expect(commands).toHaveLength(Object.keys(config.connections).length);
  const names = commands.map((line) => /--secret-id (\S+)/.exec(line)?.[1]).sort();
  expect(names).toEqual(stackSecretNames('Staging'));
  for (const [connection] of Object.entries(config.connections)) {
    expect(commands).toContain(
      `aws secretsmanager put-secret-value --region eu-west-1 --secret-id Staging/ticket-broker/${connection} --secret-string file://${connection}.secret.json`,
    );
  }
  // Never a secret on the command line: the value is read from a file.
  expect(result.stdout).not.toMatch(/--secret-string '/);
});

it('--json gives the same as data; the region defaults to AWS_REGION and is left out without one', async () => {
  const result = await secrets('list', '--json', '--config', configPath);
  expect(result.code).toBe(0);
  const listed = JSON.parse(result.stdout) as { connection: string; secretName: string; command: string }[];
  expect(listed.map((entry) => entry.secretName).sort()).toEqual(stackSecretNames('TicketBroker'));
  expect(listed[0]?.command).not.toContain('--region');

  const fromEnvironment = await secretsWith(
    { AWS_REGION: 'ap-south-1' },
    'list',
    '--json',
    '--config',
    configPath,
  );
  expect(fromEnvironment.code).toBe(0);
  const commands = (JSON.parse(fromEnvironment.stdout) as { command: string }[]).map(
    (entry) => entry.command,
  );
  expect(commands).toHaveLength(Object.keys(config.connections).length);
  expect(commands.every((command) => command.includes(' --region ap-south-1 '))).toBe(true);
});

it('refuses an unknown command (exit 2, with the usage) and an unreadable configuration (exit 1, one line)', async () => {
  const unknown = await secrets('put');
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('secrets: unknown command "put"');
  expect(unknown.stderr).toContain('usage:');

  const missing = await secrets('list', '--config', join(dir, 'absent.json'));
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe(
    `secrets: cannot read the configuration file ${join(dir, 'absent.json')} (ENOENT); give another with --config <path>\n`,
  );
});

it('refuses, as synthesis does, a configuration that cannot be deployed: two connections on one secret', async () => {
  const [first, second] = Object.entries(config.connections);
  if (!first || !second) throw new Error('the generated configuration has fewer than two connections');
  const shared = join(dir, 'shared-secret.json');
  writeFileSync(
    shared,
    JSON.stringify({
      connections: { [first[0]]: first[1], [second[0]]: { ...second[1], secretId: first[1].secretId } },
    }),
  );
  const result = await secrets('list', '--config', shared);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe(
    `secrets: connections.${second[0]}.secretId "${first[1].secretId}" is also the secret of connection "${first[0]}"; each connection has its own secret\n`,
  );
  // The same refusal, from the same check, stops the stack.
  expect(() => stackSecretNames('TicketBroker', shared)).toThrow('is also the secret of connection');
});
