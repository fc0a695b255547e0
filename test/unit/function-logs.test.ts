import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createFunctionLogs } from '../../local/function-logs';
import { lambdaContext } from '../../local/lambda-context';
import { createLogger } from '../../shared/logging/logger';
import { REDACTED, SensitiveValues } from '../../shared/logging/redaction';
import { apiFunction } from '../../shared/runtime/api-function';
import {
  CONFIG_FILE_NAME,
  ENV,
  readRuntimeEnvironment,
  SERVICE_NAMES,
} from '../../shared/runtime/environment';
import { createRuntime, type RuntimeOptions } from '../../shared/runtime/runtime';
import { apiEvent } from '../support/events';
import { OutputCapture } from '../support/log-capture';

/**
 * How the local stack prints its functions' lines (local/function-logs.ts): `json` prints exactly
 * what the house logger prints on Lambda, `short` only reads those records back, and either holds
 * everything until the banner is out.
 */
const NOW = new Date('2026-12-02T10:14:38.123Z');
const utcTime = (line: string) => line.replace(/^\d\d:\d\d:\d\d /, 'HH:MM:SS ');

beforeEach(() => {
  // Only Date: Powertools stamps each line with `new Date()`, so two runs print the same bytes.
  jest.useFakeTimers({
    now: NOW,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
});
afterEach(() => jest.useRealTimers());

// One error for every run: its logged stack names where it was made.
const LEAKY_ERROR = new Error('Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig leaked');

/** Calls a logger as the functions do: context, appended keys, an error, a registered secret. */
function logAsAFunction(
  logger: ReturnType<typeof createLogger>,
  sensitive: SensitiveValues,
  context: Context = lambdaContext('issue-ticket'),
): void {
  sensitive.register('client-secret-value-42');
  logger.addContext(context);
  logger.appendKeys({ requestId: 'chYGvb8A50tIzA=', caller: 'M2VT7fBom95IH0Zo' });
  logger.info('request', { method: 'POST', path: '/v1/tickets', status: 201, durationMs: 54 });
  logger.warn('token acquisition failed', {
    connection: 'oms',
    error: { name: 'Error', message: 'upstream echoed client-secret-value-42' },
  });
  logger.error('request failed', LEAKY_ERROR);
  logger.info('token acquired', { connection: 'oms', access_token: 'abc.def.ghi' });
}

describe('--json-logs', () => {
  it('prints every line byte for byte as the house logger prints it on Lambda', () => {
    const context = lambdaContext('issue-ticket');
    const run = (make: (sensitive: SensitiveValues) => ReturnType<typeof createLogger>) => {
      const sensitive = new SensitiveValues();
      const logger = make(sensitive);
      const capture = new OutputCapture().start();
      try {
        logAsAFunction(logger, sensitive, context);
      } finally {
        capture.stop();
      }
      return capture.text();
    };
    const lambda = run((sensitive) => createLogger({ serviceName: 'issue-ticket', sensitive }));
    const local = run((sensitive) =>
      createFunctionLogs({ format: 'json' }).logger('issue-ticket', sensitive),
    );
    expect(lambda.split('\n').filter(Boolean)).toHaveLength(4);
    expect(local).toBe(lambda);
    expect(lambda).not.toMatch(/client-secret-value-42|eyJhbGciOiJIUzI1NiJ9|abc\.def\.ghi/);
  });

  describe('the API function, built by its composition root', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tb-function-logs-'));
      writeFileSync(
        join(dir, CONFIG_FILE_NAME),
        JSON.stringify({
          connections: {
            oms: {
              kind: 'oauth2-client-credentials',
              tokenUrl: 'https://keycloak.example.com/realms/x/protocol/openid-connect/token',
              clientAuth: 'client_secret_post',
              secretId: 'oms/client',
            },
          },
        }),
      );
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** Requests that need no table or upstream: the public route, a malformed key, an unknown path. */
    async function serve(options: Omit<RuntimeOptions, 'dynamoClient' | 'secretsManagerClient'>) {
      const environment = readRuntimeEnvironment({
        [ENV.configFile]: join(dir, CONFIG_FILE_NAME),
        [ENV.table]: 'broker-table',
        [ENV.serviceName]: SERVICE_NAMES.issueTicket,
      });
      // Built before the capture: the AWS SDK warns about Node 20 once per process, at its first client.
      const offline = { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' };
      const handler = apiFunction(
        createRuntime(environment, {
          ...options,
          dynamoClient: new DynamoDBClient(offline),
          secretsManagerClient: new SecretsManagerClient(offline),
        }),
      ) as unknown as (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;
      const capture = new OutputCapture().start();
      try {
        for (const [event, context] of invocations) await handler(event, context);
      } finally {
        capture.stop();
      }
      return capture.text();
    }
    const invocations: [APIGatewayProxyEventV2, Context][] = [
      [apiEvent({ method: 'GET', path: '/v1/health' }), lambdaContext('issue-ticket')],
      [
        apiEvent({ headers: { authorization: 'Bearer tb_malformed' }, body: {} }),
        lambdaContext('issue-ticket'),
      ],
      [apiEvent({ method: 'GET', path: '/v1/nothing-here' }), lambdaContext('issue-ticket')],
    ];

    it('prints under --json-logs exactly what it prints with its own logger and metrics', async () => {
      const lambda = await serve({});
      const logs = createFunctionLogs({ format: 'json' });
      const sensitive = new SensitiveValues();
      const local = await serve({
        sensitive,
        logger: logs.logger(SERVICE_NAMES.issueTicket, sensitive),
        metricsLogger: logs.metricsLogger,
      });
      const accessLines = lambda.split('\n').filter((line) => line.includes('"message":"request"'));
      expect(accessLines).toHaveLength(3);
      expect(lambda).toContain('No application metrics to publish'); // Metrics' own warning, on health
      expect(local).toBe(lambda);
    });

    it('prints one short line per request in the default output', async () => {
      const lines: string[] = [];
      const logs = createFunctionLogs({ format: 'short', write: (text) => lines.push(text), colour: false });
      const sensitive = new SensitiveValues();
      const printed = await serve({
        sensitive,
        logger: logs.logger(SERVICE_NAMES.issueTicket, sensitive),
        metricsLogger: logs.metricsLogger,
      });
      expect(printed).not.toContain('"level"');
      expect(lines.join('').split('\n').filter(Boolean).map(utcTime)).toEqual([
        'HH:MM:SS GET /v1/health 200 0ms',
        'HH:MM:SS WARN metrics: No application metrics to publish. The cold-start metric may be published if enabled. If application metrics should never be empty, consider using `throwOnEmptyMetrics`',
        'HH:MM:SS POST /v1/tickets 401 0ms code=unauthorized auth=malformed',
        'HH:MM:SS GET /v1/nothing-here 404 0ms code=invalid_request error=route_not_found',
      ]);
    });
  });
});

describe('the default output', () => {
  it('reads its lines back from the redacted records: no secret, token or key shows', () => {
    const lines: string[] = [];
    const logs = createFunctionLogs({ format: 'short', write: (text) => lines.push(text), colour: false });
    const sensitive = new SensitiveValues();
    const capture = new OutputCapture().start();
    try {
      logAsAFunction(logs.logger('issue-ticket', sensitive), sensitive);
    } finally {
      capture.stop();
    }
    expect(capture.text()).toBe('');
    expect(lines.map(utcTime)).toEqual([
      'HH:MM:SS POST /v1/tickets 201 54ms caller=M2VT7fBom95IH0Zo\n',
      `HH:MM:SS WARN token acquisition failed connection=oms caller=M2VT7fBom95IH0Zo: upstream echoed ${REDACTED}\n`,
      `HH:MM:SS ERROR request failed caller=M2VT7fBom95IH0Zo: Bearer ${REDACTED} leaked\n`,
    ]);
  });

  it('holds every line, the process warnings with them, until released, then prints them in order', () => {
    const lines: string[] = [];
    const logs = createFunctionLogs({
      format: 'short',
      held: true,
      write: (text) => lines.push(text),
      colour: false,
      clock: { now: () => NOW.getTime() },
    });
    const logger = logs.logger('refresh-tokens', new SensitiveValues());
    logger.info('refresh run', { renewed: 2, fresh: 0, failed: 0, durationMs: 85 });
    logs.warning({ name: 'Warning', message: 'NodeVersionSupportWarning: node >=22.\n\nMore.' });
    logs.metricsLogger.warn('No application metrics to publish.');
    logs.metricsLogger.info('said at INFO: left out');
    expect(lines).toEqual([]);
    logs.release();
    logger.error('token refresh failed', { connection: 'oms', code: 'upstream_unavailable' });
    expect(lines.map(utcTime)).toEqual([
      'HH:MM:SS refresh renewed=2 fresh=0 failed=0 (85ms)\n',
      'HH:MM:SS WARN node: NodeVersionSupportWarning: node >=22.\n',
      'HH:MM:SS WARN metrics: No application metrics to publish.\n',
      'HH:MM:SS ERROR token refresh failed connection=oms code=upstream_unavailable\n',
    ]);
  });

  it('a child logger prints where its parent does', () => {
    const lines: string[] = [];
    const logs = createFunctionLogs({ format: 'short', write: (text) => lines.push(text), colour: false });
    logs.logger('issue-ticket', new SensitiveValues()).createChild().warn('from a child');
    expect(lines.map(utcTime)).toEqual(['HH:MM:SS WARN from a child\n']);
  });
});

describe('held --json-logs', () => {
  it("prints the held JSON lines and Node's warnings as they are, after the release", () => {
    const logs = createFunctionLogs({ format: 'json', held: true });
    const logger = logs.logger('refresh-tokens', new SensitiveValues());
    const capture = new OutputCapture().start();
    let before: string;
    try {
      logger.info('refresh run', { renewed: 1 });
      logs.warning({ name: 'DeprecationWarning', message: 'old', code: 'DEP0005' });
      new Metrics({ namespace: 'Test', logger: logs.metricsLogger }).publishStoredMetrics();
      before = capture.text();
      logs.release();
    } finally {
      capture.stop();
    }
    expect(before).toBe('');
    const [run, warning, metrics] = capture.text().split('\n');
    expect(JSON.parse(run ?? '')).toMatchObject({
      level: 'INFO',
      message: 'refresh run',
      service: 'refresh-tokens',
      timestamp: NOW.toISOString(),
      renewed: 1,
    });
    expect(warning).toBe(`(node:${process.pid}) [DEP0005] DeprecationWarning: old`);
    expect(metrics).toMatch(/^No application metrics to publish/);
  });
});
