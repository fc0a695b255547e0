import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigValidationError } from '../../shared/config/schema';
import { METRICS_NAMESPACE } from '../../shared/logging/telemetry';
import {
  CONFIG_FILE_NAME,
  ENV,
  EnvironmentError,
  readRuntimeEnvironment,
  SERVICE_NAMES,
} from '../../shared/runtime/environment';

/** How a function finds its configuration and settings at cold start. */
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-env-'));
  writeFileSync(
    join(dir, CONFIG_FILE_NAME),
    JSON.stringify({
      connections: {
        astrato: {
          kind: 'astrato-oem',
          baseUrl: 'https://app.astrato.io',
          secretId: 'TicketBroker/ticket-broker/astrato',
        },
      },
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads the configuration file named by BROKER_CONFIG_FILE, relative to the code directory on Lambda', () => {
  const environment = readRuntimeEnvironment({
    [ENV.configFile]: CONFIG_FILE_NAME,
    LAMBDA_TASK_ROOT: dir,
    [ENV.table]: 'broker-table',
    [ENV.serviceName]: SERVICE_NAMES.refreshTokens,
    [ENV.logStream]: '2026/12/02/[$LATEST]0123abcd',
  });
  expect(environment.config.connections.astrato).toMatchObject({
    secretId: 'TicketBroker/ticket-broker/astrato',
  });
  expect(environment.tableName).toBe('broker-table');
  // The service name the construct set, and the log stream Lambda set (the lease owner id).
  expect(environment.serviceName).toBe('refresh-tokens');
  expect(environment.logStream).toBe('2026/12/02/[$LATEST]0123abcd');
  // One source for the namespace: the constant the CDK app derives its dashboard and alarms from.
  expect(environment.metricsNamespace).toBe(METRICS_NAMESPACE);
});

it('takes an absolute path as given, and the namespace the deployment sets', () => {
  const environment = readRuntimeEnvironment({
    [ENV.configFile]: join(dir, CONFIG_FILE_NAME),
    [ENV.table]: 't',
    [ENV.serviceName]: SERVICE_NAMES.issueTicket,
    [ENV.metricsNamespace]: 'TicketBroker/Staging',
  });
  expect(environment.metricsNamespace).toBe('TicketBroker/Staging');
  expect(environment.logStream).toBeUndefined(); // outside Lambda
});

it('fails naming the variable, the file or the field', () => {
  expect(() => readRuntimeEnvironment({ [ENV.table]: 't' })).toThrow(
    'environment variable BROKER_CONFIG_FILE is required',
  );
  expect(() =>
    readRuntimeEnvironment({ [ENV.configFile]: join(dir, 'absent.json'), [ENV.table]: 't' }),
  ).toThrow(EnvironmentError);
  expect(() =>
    readRuntimeEnvironment({ [ENV.configFile]: join(dir, 'absent.json'), [ENV.table]: 't' }),
  ).toThrow(/BROKER_CONFIG_FILE: cannot read the configuration file .*absent\.json \(ENOENT\)/);
  const bad = join(dir, 'bad.json');
  writeFileSync(
    bad,
    JSON.stringify({
      connections: { astrato: { kind: 'astrato-oem', baseUrl: 'http://x.io', secretId: 's' } },
    }),
  );
  expect(() => readRuntimeEnvironment({ [ENV.configFile]: bad, [ENV.table]: 't' })).toThrow(
    ConfigValidationError,
  );
  expect(() => readRuntimeEnvironment({ [ENV.configFile]: bad, [ENV.table]: 't' })).toThrow(
    'connections.astrato.baseUrl: must use https',
  );
  expect(() => readRuntimeEnvironment({ [ENV.configFile]: CONFIG_FILE_NAME, LAMBDA_TASK_ROOT: dir })).toThrow(
    'environment variable TABLE_NAME is required',
  );
  expect(() =>
    readRuntimeEnvironment({ [ENV.configFile]: CONFIG_FILE_NAME, LAMBDA_TASK_ROOT: dir, [ENV.table]: 't' }),
  ).toThrow('environment variable POWERTOOLS_SERVICE_NAME is required');
});
