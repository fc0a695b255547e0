import {
  GetSecretValueCommand,
  InternalServiceError,
  InvalidParameterException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { type LocalSecretsManager, startSecretsManager } from '../../local/secrets-manager';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('local Secrets Manager with the real SDK', () => {
  let sm: LocalSecretsManager;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    sm = await startSecretsManager({
      seed: {
        'ticket-broker/seeded': '{"clientId":"a","clientSecret":"b"}',
        'ticket-broker/astrato': 'v1',
        rotating: 'one',
      },
    });
    client = new SecretsManagerClient({
      endpoint: sm.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 2,
    });
  });

  afterAll(async () => {
    client.destroy();
    await sm.stop();
  });

  it('serves seeded secrets', async () => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: 'ticket-broker/seeded' }));
    expect(JSON.parse(out.SecretString ?? '')).toEqual({ clientId: 'a', clientSecret: 'b' });
    expect(out.VersionStages).toEqual(['AWSCURRENT']);
  });

  it('reads a secret by name and by ARN', async () => {
    const byName = await client.send(new GetSecretValueCommand({ SecretId: 'ticket-broker/astrato' }));
    expect(byName.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:ticket-broker\/astrato-[A-Za-z0-9]{6}$/,
    );
    expect(byName.Name).toBe('ticket-broker/astrato');
    expect(byName.VersionId).toMatch(UUID);
    const byArn = await client.send(new GetSecretValueCommand({ SecretId: byName.ARN }));
    for (const out of [byName, byArn]) {
      expect(out.SecretString).toBe('v1');
      expect(out.VersionId).toBe(byName.VersionId);
      expect(out.ARN).toBe(byName.ARN);
      expect(out.CreatedDate).toBeInstanceOf(Date);
      expect(Math.abs((out.CreatedDate?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
    }
  });

  it('makes a put value AWSCURRENT with a new version id (a rotation)', async () => {
    const before = await client.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    const put2 = await client.send(new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'two' }));
    expect(put2.VersionStages).toEqual(['AWSCURRENT']);
    const { VersionId: v3 } = await client.send(
      new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'three' }),
    );
    expect(new Set([before.VersionId, put2.VersionId, v3]).size).toBe(3);
    const current = await client.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    expect([current.SecretString, current.VersionId, current.VersionStages]).toEqual([
      'three',
      v3,
      ['AWSCURRENT'],
    ]);
  });

  it('uses ClientRequestToken as the VersionId and treats a retry as idempotent', async () => {
    sm.putSecret('tokened', 'x');
    const token = '11111111-2222-4333-8444-555555555555';
    const first = await client.send(
      new PutSecretValueCommand({ SecretId: 'tokened', SecretString: 'y', ClientRequestToken: token }),
    );
    expect(first.VersionId).toBe(token);
    const retry = await client.send(
      new PutSecretValueCommand({ SecretId: 'tokened', SecretString: 'y', ClientRequestToken: token }),
    );
    expect(retry.VersionId).toBe(token);
    await expect(
      client.send(
        new PutSecretValueCommand({ SecretId: 'tokened', SecretString: 'z', ClientRequestToken: token }),
      ),
    ).rejects.toBeInstanceOf(ResourceExistsException);
  });

  it('putSecret creates or updates in process and returns the new version', async () => {
    const v1 = sm.putSecret('helper', 'a');
    const v2 = sm.putSecret('helper', 'b');
    expect(v1).not.toBe(v2);
    const out = await client.send(new GetSecretValueCommand({ SecretId: 'helper' }));
    expect([out.SecretString, out.VersionId]).toEqual(['b', v2]);
  });

  it('maps errors to the SDK typed exceptions with the service messages', async () => {
    const missing = client.send(new GetSecretValueCommand({ SecretId: 'nope' }));
    await expect(missing).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(missing).rejects.toThrow("Secrets Manager can't find the specified secret.");
    await expect(
      client.send(new PutSecretValueCommand({ SecretId: 'nope', SecretString: 'x' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    // What the stand-in does not implement is refused, never silently ignored.
    const staged = client.send(
      new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPREVIOUS' }),
    );
    await expect(staged).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(staged).rejects.toThrow(/VersionStage/);
    await expect(
      client.send(new PutSecretValueCommand({ SecretId: 'rotating', SecretBinary: new Uint8Array([1]) })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });

  it('answers the protocol shapes on the wire, unknown operations included', async () => {
    const post = (target: string, body: unknown) =>
      fetch(sm.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
        body: JSON.stringify(body),
      });
    for (const operation of ['RotateSecret', 'CreateSecret', 'DescribeSecret', 'ListSecrets']) {
      const unknown = await post(`secretsmanager.${operation}`, { SecretId: 'rotating' });
      expect(unknown.status).toBe(400);
      expect(unknown.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
      expect((await unknown.json()).__type).toBe('UnknownOperationException');
    }

    const notFound = await post('secretsmanager.GetSecretValue', { SecretId: 'nope' });
    expect(notFound.status).toBe(400);
    expect(notFound.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await notFound.json()).toEqual({
      __type: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
    });
  });

  it('fails SDK calls with a retryable 500 while unavailable, and recovers', async () => {
    sm.resetCounts();
    sm.setUnavailable(true);
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'rotating' }))).rejects.toBeInstanceOf(
      InternalServiceError,
    );
    // maxAttempts 2: the SDK retried once, as it does for a 500.
    expect(sm.counts()).toEqual({ GetSecretValue: 2 });

    sm.setUnavailable(false);
    const out = await client.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    expect(out.SecretString).toBe('three');
  });

  it('lets another process read counts and toggle availability over HTTP', async () => {
    sm.resetCounts();
    await client.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    expect(await (await fetch(`${sm.endpoint}/__sim/counts`)).json()).toEqual({ GetSecretValue: 1 });

    const off = await fetch(`${sm.endpoint}/__sim/unavailable`, {
      method: 'PUT',
      body: '{"unavailable":true}',
    });
    expect(off.status).toBe(204);
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'rotating' }))).rejects.toBeInstanceOf(
      InternalServiceError,
    );
    const bad = await fetch(`${sm.endpoint}/__sim/unavailable`, {
      method: 'PUT',
      body: '{"unavailable":"no"}',
    });
    expect(bad.status).toBe(400);
    await fetch(`${sm.endpoint}/__sim/unavailable`, { method: 'PUT', body: '{"unavailable":false}' });
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'rotating' }))).resolves.toBeDefined();

    expect((await fetch(`${sm.endpoint}/__sim/counts/reset`, { method: 'POST' })).status).toBe(204);
    expect(sm.counts()).toEqual({});
  });
});
