import { randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { parseControlInput } from './faults';
import {
  HttpError,
  isRecord,
  type LocalServer,
  parseJson,
  readBody,
  send,
  sendJson,
  sendNoContent,
  startHttpServer,
} from './http-kit';

/**
 * A Secrets Manager stand-in speaking the service's AWS JSON 1.1 protocol, enough for the real
 * `@aws-sdk/client-secrets-manager` (point it here with `endpoint` or
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`). SigV4 signatures are not checked.
 *
 * It implements what the broker and its operators use, no more:
 * - `GetSecretValue` of the current version (`AWSCURRENT`), by name or full ARN: what the functions call;
 * - `PutSecretValue` with a `SecretString`: how an operator puts or rotates a connection's
 *   credentials (`aws secretsmanager put-secret-value`), with `ClientRequestToken` as the version id
 *   and a retried request answered with the same version, as the service does.
 * Every other operation answers `UnknownOperationException`. Secrets are created at start (`seed`)
 * or in process (`putSecret`), as the CDK app creates them on AWS.
 *
 * Besides the protocol on `POST /`: `GET /__sim/counts`, `POST /__sim/counts/reset` and
 * `PUT /__sim/unavailable` (JSON `{"unavailable": boolean}`) for other processes.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
 */
export interface LocalSecretsManager {
  /** For the SDK's `endpoint` or `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
  /** In-process helper for tests: create-or-put a value (it becomes AWSCURRENT), returns the new VersionId. */
  putSecret(name: string, value: string): string;
  /** When true every call answers 500 InternalServiceError (retryable in the SDK) until set false. */
  setUnavailable(unavailable: boolean): void;
  /** Calls per operation (`X-Amz-Target` operation name), failed ones included. */
  counts(): Record<string, number>;
  resetCounts(): void;
}

/** Options of {@link startSecretsManager}. */
export interface SecretsManagerOptions {
  port?: number;
  /** Secrets created at start: name -> SecretString. */
  seed?: Record<string, string>;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const CURRENT = 'AWSCURRENT';

interface Version {
  readonly id: string;
  readonly secretString: string;
  readonly created: number;
}

interface Secret {
  readonly arn: string;
  readonly name: string;
  /** In creation order; the last one is AWSCURRENT. */
  readonly versions: Map<string, Version>;
}

/** A service error as the SDK expects it: 400 (or 5xx), `x-amzn-errortype`, `{"__type","message"}`. */
class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Epoch seconds with milliseconds, as the service sends timestamps. */
const epochSeconds = (ms: number) => ms / 1000;

function currentVersion(secret: Secret): Version {
  const version = [...secret.versions.values()].at(-1);
  if (!version) {
    throw new ServiceError(
      'ResourceNotFoundException',
      `Secrets Manager can't find the specified secret value for staging label: ${CURRENT}`,
    );
  }
  return version;
}

class SecretStore {
  private readonly secrets = new Map<string, Secret>();

  find(secretId: string): Secret {
    const secret =
      this.secrets.get(secretId) ??
      [...this.secrets.values()].find((candidate) => candidate.arn === secretId);
    if (!secret)
      throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  findOrCreate(name: string): Secret {
    let secret = this.secrets.get(name);
    if (!secret) {
      const suffix = Array.from(
        { length: 6 },
        () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[randomInt(52)],
      );
      const arn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${suffix.join('')}`;
      secret = { arn, name, versions: new Map() };
      this.secrets.set(name, secret);
    }
    return secret;
  }

  /** A new current version; a retried request (same token, same value) returns the existing one. */
  putValue(secret: Secret, secretString: string, token: string | undefined): Version {
    const id = token ?? randomUUID();
    const existing = secret.versions.get(id);
    if (existing) {
      if (existing.secretString === secretString) return existing;
      throw new ServiceError(
        'ResourceExistsException',
        "You can't modify an existing version, you can only create a new version.",
      );
    }
    const version: Version = { id, secretString, created: Date.now() };
    secret.versions.set(id, version);
    return version;
  }
}

/** The request shapes of the two operations; other fields the service knows are refused, not ignored. */
const getSecretValueRequest = z.object({ SecretId: z.string().min(1) }).strict();
const putSecretValueRequest = z
  .object({
    SecretId: z.string().min(1),
    SecretString: z.string(),
    ClientRequestToken: z.string().optional(),
  })
  .strict();

function parseRequest<T>(schema: z.ZodType<T>, body: unknown, operation: string): T {
  try {
    return parseControlInput(schema, body, `${operation} request`);
  } catch (error) {
    throw new ServiceError('InvalidParameterException', `${(error as Error).message} (this stand-in)`);
  }
}

type Operation = (store: SecretStore, body: unknown) => Record<string, unknown>;

const operations: Record<string, Operation> = {
  GetSecretValue(store, body) {
    const request = parseRequest(getSecretValueRequest, body, 'GetSecretValue');
    const secret = store.find(request.SecretId);
    const version = currentVersion(secret);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.secretString,
      VersionStages: [CURRENT],
      CreatedDate: epochSeconds(version.created),
    };
  },

  PutSecretValue(store, body) {
    const request = parseRequest(putSecretValueRequest, body, 'PutSecretValue');
    const secret = store.find(request.SecretId);
    const version = store.putValue(secret, request.SecretString, request.ClientRequestToken);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [CURRENT] };
  },
};

const availabilityRequest = z.object({ unavailable: z.boolean() }).strict();

/** Starts the stand-in on 127.0.0.1, with the `seed` secrets already created. */
export async function startSecretsManager(opts: SecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const store = new SecretStore();
  let unavailable = false;
  let counts: Record<string, number> = {};

  const putSecret = (name: string, value: string): string =>
    store.putValue(store.findOrCreate(name), value, undefined).id;
  for (const [name, value] of Object.entries(opts.seed ?? {})) putSecret(name, value);

  const answerError = (res: ServerResponse, error: ServiceError) =>
    send(
      res,
      error.status,
      JSON.stringify({ __type: error.type, message: error.message }),
      'application/x-amz-json-1.1',
      { 'x-amzn-errortype': error.type, 'x-amzn-requestid': randomUUID() },
    );

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname.startsWith('/__sim/')) return control(req, res, url.pathname);
    if (req.method !== 'POST' || url.pathname !== '/')
      throw new HttpError(404, 'Secrets Manager stand-in: POST / only');
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : target;
    counts[operation] = (counts[operation] ?? 0) + 1;
    const text = await readBody(req);
    if (unavailable) {
      return answerError(
        res,
        new ServiceError('InternalServiceError', 'An error occurred on the server side.', 500),
      );
    }
    const run = Object.hasOwn(operations, operation) ? operations[operation] : undefined;
    if (!target.startsWith('secretsmanager.') || run === undefined) {
      return answerError(
        res,
        new ServiceError('UnknownOperationException', `Unknown operation ${target || '(none)'}`),
      );
    }
    const body = text === '' ? {} : parseJson(text);
    if (!isRecord(body)) {
      return answerError(
        res,
        new ServiceError('SerializationException', 'Request body is not a JSON object.'),
      );
    }
    try {
      send(res, 200, JSON.stringify(run(store, body)), 'application/x-amz-json-1.1', {
        'x-amzn-requestid': randomUUID(),
      });
    } catch (error) {
      if (error instanceof ServiceError) return answerError(res, error);
      throw error;
    }
  };

  const control = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    const route = `${req.method} ${pathname}`;
    if (route === 'GET /__sim/counts') return sendJson(res, 200, counts);
    if (route === 'POST /__sim/counts/reset') {
      counts = {};
      return sendNoContent(res);
    }
    if (route === 'PUT /__sim/unavailable') {
      try {
        unavailable = parseControlInput(
          availabilityRequest,
          parseJson(await readBody(req)),
          'availability',
        ).unavailable;
      } catch (error) {
        throw new HttpError(400, (error as Error).message);
      }
      return sendNoContent(res);
    }
    throw new HttpError(404, `no control route ${route}`);
  };

  const server: LocalServer = await startHttpServer((req, res, ctx) => handle(req, res, ctx.url), opts);
  return {
    endpoint: server.url,
    port: server.port,
    stop: () => server.stop(),
    putSecret,
    setUnavailable(value) {
      unavailable = value;
    },
    counts: () => ({ ...counts }),
    resetCounts() {
      counts = {};
    },
  };
}
