import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type LocalServer, readBody, send, startHttpServer } from '../../local/http-kit';
import { SecretsManagerStore } from '../../shared/adapters/secrets-manager-store';
import { DependencyGuard, guardClient } from '../../shared/dependency-guard';
import type { Log } from '../../shared/logging/ports';
import { SensitiveValues } from '../../shared/logging/redaction';
import { ManualClock, noDeadline } from '../support/fakes';

/**
 * A Secrets Manager of the test's own on 127.0.0.1 (JSON 1.1, GetSecretValue only): it answers
 * whichever version the test makes current, including one it was current before (a rollback, as
 * UpdateSecretVersionStage moves AWSCURRENT back), or 500 while the test says it is down.
 */
async function scriptedSecretsManager() {
  const state = { current: 'v1', down: false, reads: 0 };
  const server: LocalServer = await startHttpServer(async (req, res) => {
    await readBody(req);
    state.reads++;
    if (state.down) {
      send(
        res,
        500,
        JSON.stringify({ __type: 'InternalServiceError', message: 'down' }),
        'application/x-amz-json-1.1',
        {
          'x-amzn-errortype': 'InternalServiceError',
        },
      );
      return;
    }
    const body = {
      ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:s-AbCdEf',
      Name: 's',
      VersionId: state.current,
      SecretString: JSON.stringify({ clientId: 'client', clientSecret: `secret-${state.current}` }),
      VersionStages: ['AWSCURRENT'],
    };
    send(res, 200, JSON.stringify(body), 'application/x-amz-json-1.1');
  });
  return { state, server };
}

function recordingLog() {
  const lines: { level: string; message: string }[] = [];
  const at =
    (level: string) =>
    (message: string): void => {
      lines.push({ level, message });
    };
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

async function setup() {
  const { state, server } = await scriptedSecretsManager();
  const clock = new ManualClock();
  const { log, lines } = recordingLog();
  const client = new SecretsManagerClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const guard = new DependencyGuard({
    dependency: 'SecretsManager',
    clock,
    log,
    telemetry: { count() {}, timing() {} },
  });
  guardClient(client, guard);
  const store = new SecretsManagerStore({ client, clock, log, sensitive: new SensitiveValues() });
  const stop = async () => {
    client.destroy();
    await server.stop();
  };
  return { state, clock, lines, guard, store, stop };
}

describe('SecretsManagerStore', () => {
  it('a version rolled back to is current again, not superseded', async () => {
    const { state, store, stop } = await setup();
    try {
      await store.get('s', { signal: noDeadline });
      state.current = 'v2';
      await store.get('s', { refresh: true, signal: noDeadline });
      expect(store.isSuperseded('s', 'v1')).toBe(true);
      // v2 turns out bad; the operator moves AWSCURRENT back to v1.
      state.current = 'v1';
      expect((await store.get('s', { refresh: true, signal: noDeadline })).versionId).toBe('v1');
      expect(store.knownVersion('s')).toBe('v1');
      expect(store.isSuperseded('s', 'v1')).toBe(false);
      expect(store.isSuperseded('s', 'v2')).toBe(true);
    } finally {
      await stop();
    }
  });

  it('while Secrets Manager is backed off, serving the cached secret is a DEBUG line, not a WARN per read', async () => {
    const { state, clock, lines, guard, store, stop } = await setup();
    try {
      await store.get('s', { signal: noDeadline });
      state.down = true;
      // The read that finds it down: the guard warns once, and so does the store (a real failure).
      await store.get('s', { refresh: true, signal: noDeadline });
      expect(guard.state).toBe('down');
      const warnings = () => lines.filter((line) => line.level === 'warn').map((line) => line.message);
      expect(warnings()).toEqual([
        'SecretsManager unavailable; backing off',
        'secrets manager unavailable; using the cached secret',
      ]);
      // Backed off: each read fails at once without I/O and is served from the cache, logged at DEBUG.
      const reads = state.reads;
      for (let i = 0; i < 5; i++) {
        clock.advance(100);
        expect((await store.get('s', { refresh: true, signal: noDeadline })).versionId).toBe('v1');
      }
      expect(state.reads).toBe(reads);
      expect(warnings()).toHaveLength(2);
      expect(lines.filter((line) => line.level === 'debug').map((line) => line.message)).toEqual(
        Array(5).fill('secrets manager unavailable; using the cached secret'),
      );
    } finally {
      await stop();
    }
  });
});
