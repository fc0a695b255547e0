import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { ConfigFileError, loadBrokerConfigFile } from '../../infra/config-file';
import { InvalidPropsError } from '../../infra/errors';
import { StatefulStack } from '../../infra/stateful-stack';
import { StatelessStack, type StatelessStackProps } from '../../infra/stateless-stack';
import { type BrokerConfig, ConfigValidationError } from '../../shared/config/schema';
import { exampleConfig, newApp } from './support';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-infra-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, document: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof document === 'string' ? document : JSON.stringify(document));
  return path;
}

describe('the configuration file', () => {
  it('the example is docs/design.md’s: Astrato and the OMS Keycloak realm', () => {
    expect(exampleConfig.connections.astrato).toMatchObject({
      kind: 'astrato-oem',
      baseUrl: 'https://app.astrato.io',
      secretId: 'ticket-broker/astrato',
      embedUrlTemplate: '{baseUrl}/auth/proxy/oem/ticket/{ticketId}/embed',
    });
    expect(exampleConfig.connections.oms).toMatchObject({
      kind: 'oauth2-client-credentials',
      tokenUrl: 'https://connect.astoresuite.com/auth/realms/astore-p2p/protocol/openid-connect/token',
      clientAuth: 'client_secret_post',
      secretId: 'ticket-broker/oms',
      probeUrl: 'https://oms-api-in01.astoreshop.com/oms-api/',
      vendable: true,
    });
    expect(exampleConfig.refresh).toEqual({ hardSkewSeconds: 30, minWindowSeconds: 120, concurrency: 8 });
  });

  it('a missing file is one error naming the path (the app adds how to give another)', () => {
    const path = join(dir, 'absent.json');
    expect(() => loadBrokerConfigFile(path)).toThrow(ConfigFileError);
    expect(() => loadBrokerConfigFile(path)).toThrow(`cannot read the configuration file ${path} (ENOENT)`);
  });

  it('a bad field is one error naming the file and the field', () => {
    const path = file('bad-url.json', {
      connections: { astrato: { kind: 'astrato-oem', baseUrl: 'http://app.astrato.io', secretId: 'x' } },
    });
    expect(() => loadBrokerConfigFile(path)).toThrow(ConfigValidationError);
    expect(() => loadBrokerConfigFile(path)).toThrow(
      `invalid configuration (${path}): connections.astrato.baseUrl: must use https`,
    );
    expect(() => loadBrokerConfigFile(file('syntax.json', '{"connections": '))).toThrow(
      ConfigValidationError,
    );
  });

  it('a secret value cannot ride in the configuration: unknown fields such as clientSecret are refused', () => {
    const path = file('smuggled.json', {
      connections: {
        oms: {
          ...exampleConfig.connections.oms,
          clientSecret: 'should-never-reach-a-template',
        },
      },
    });
    expect(() => loadBrokerConfigFile(path)).toThrow(/connections\.oms.*clientSecret/);
  });
});

describe('props the stacks refuse, each with a message naming the problem', () => {
  const withConnections = (connections: Record<string, unknown>): BrokerConfig =>
    ({ ...exampleConfig, connections }) as BrokerConfig;

  it('a secretId that is an ARN (the app creates the secret, so it needs a name)', () => {
    const config = withConnections({
      astrato: {
        ...exampleConfig.connections.astrato,
        secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x',
      },
    });
    expect(() => new StatefulStack(newApp(), 'S', { config })).toThrow(InvalidPropsError);
    expect(() => new StatefulStack(newApp(), 'S', { config })).toThrow(
      'connections.astrato.secretId must be a secret name',
    );
  });

  it('two connections sharing one secret', () => {
    const config = withConnections({
      astrato: exampleConfig.connections.astrato,
      other: { ...exampleConfig.connections.astrato, secretId: 'ticket-broker/astrato' },
    });
    expect(() => new StatefulStack(newApp(), 'S', { config })).toThrow(
      'connections.other.secretId "ticket-broker/astrato" is also the secret of connection "astrato"',
    );
  });

  describe('stateless', () => {
    function stateless(overrides: Partial<StatelessStackProps>) {
      const app = newApp();
      const stateful = new StatefulStack(app, 'S', { config: exampleConfig });
      return () =>
        new StatelessStack(app, 'A', {
          config: exampleConfig,
          table: stateful.table,
          connectionSecrets: stateful.connectionSecrets,
          ...overrides,
        });
    }

    it('throttling that would block everything', () => {
      expect(stateless({ throttle: { rateLimit: 0, burstLimit: 10 } })).toThrow(
        'throttle needs rateLimit > 0',
      );
      expect(stateless({ throttle: { rateLimit: 10, burstLimit: 0.5 } })).toThrow('integer burstLimit >= 1');
    });

    it('a latency threshold the ticket function’s timeout would cut off', () => {
      expect(stateless({ ticketLatencyThreshold: Duration.seconds(15) })).toThrow(
        "ticketLatencyThreshold must be above 0 and below the ticket function's timeout",
      );
    });

    it('an alarm address that is not one', () => {
      expect(stateless({ alarmEmail: 'ops' })).toThrow('alarmEmail "ops" is not an email address');
    });
  });
});
