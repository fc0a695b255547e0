import { randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
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
 * Operations: CreateSecret, PutSecretValue, GetSecretValue, DescribeSecret, ListSecrets. Others
 * answer `UnknownOperationException`. Secrets are found by name or full ARN (not partial ARN).
 *
 * Besides the protocol on `POST /`: `GET /__sim/counts`, `POST /__sim/counts/reset` and
 * `PUT /__sim/unavailable` (JSON `{"unavailable": boolean}`) for other processes.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/Welcome.html
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
const PREVIOUS = 'AWSPREVIOUS';
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

interface Version {
  id: string;
  secretString?: string;
  secretBinary?: string;
  stages: Set<string>;
  created: number;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  created: number;
  lastChanged: number;
  lastAccessed?: number;
  /** In creation order. */
  versions: Map<string, Version>;
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

const notFound = () =>
  new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");

/** Epoch seconds with milliseconds, as the service sends timestamps. */
const epochSeconds = (ms: number) => ms / 1000;

class SecretStore {
  private readonly secrets = new Map<string, Secret>();

  find(secretId: unknown): Secret {
    if (typeof secretId !== 'string' || secretId === '') {
      throw new ServiceError('InvalidParameterException', 'You must provide a SecretId.');
    }
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    for (const secret of this.secrets.values()) if (secret.arn === secretId) return secret;
    throw notFound();
  }

  has(name: string): boolean {
    return this.secrets.has(name);
  }

  all(): Secret[] {
    return [...this.secrets.values()];
  }

  create(name: string, description: string | undefined): Secret {
    if (!NAME_PATTERN.test(name)) {
      throw new ServiceError(
        'InvalidParameterException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    if (this.secrets.has(name)) {
      throw new ServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    }
    const now = Date.now();
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${randomSuffix()}`,
      name,
      created: now,
      lastChanged: now,
      versions: new Map(),
      ...(description !== undefined ? { description } : {}),
    };
    this.secrets.set(name, secret);
    return secret;
  }

  /**
   * Adds a version carrying `stages` (default AWSCURRENT). Each stage moves off the version that
   * had it; when AWSCURRENT moves, the former current version becomes AWSPREVIOUS.
   * A retried request (same token, same value) returns the existing version, as the service does.
   */
  putValue(
    secret: Secret,
    value: { secretString?: string; secretBinary?: string },
    token: string | undefined,
    stages: string[] = [CURRENT],
  ): Version {
    const id = token ?? randomUUID();
    const existing = secret.versions.get(id);
    if (existing) {
      if (existing.secretString === value.secretString && existing.secretBinary === value.secretBinary)
        return existing;
      throw new ServiceError(
        'ResourceExistsException',
        "You can't modify an existing version, you can only create a new version.",
      );
    }
    const now = Date.now();
    const formerCurrent = [...secret.versions.values()].find((v) => v.stages.has(CURRENT));
    for (const stage of stages) for (const v of secret.versions.values()) v.stages.delete(stage);
    if (stages.includes(CURRENT) && formerCurrent) {
      for (const v of secret.versions.values()) v.stages.delete(PREVIOUS);
      formerCurrent.stages.add(PREVIOUS);
    }
    const version: Version = { id, stages: new Set(stages), created: now, ...value };
    secret.versions.set(id, version);
    secret.lastChanged = now;
    return version;
  }
}

function randomSuffix(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 6; i += 1) out += alphabet[randomInt(alphabet.length)];
  return out;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new ServiceError('InvalidParameterException', `${field} must be a string.`);
  return value;
}

/** SecretString or SecretBinary (base64 in the JSON protocol), never both. */
function secretValue(
  body: Record<string, unknown>,
): { secretString?: string; secretBinary?: string } | undefined {
  const secretString = optionalString(body, 'SecretString');
  const secretBinary = optionalString(body, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw new ServiceError(
      'InvalidParameterException',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (secretString !== undefined) return { secretString };
  if (secretBinary !== undefined) return { secretBinary };
  return undefined;
}

function versionIdsToStages(secret: Secret): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of secret.versions.values()) if (v.stages.size > 0) out[v.id] = [...v.stages];
  return out;
}

type Operation = (store: SecretStore, body: Record<string, unknown>) => Record<string, unknown>;

const operations: Record<string, Operation> = {
  CreateSecret(store, body) {
    const name = optionalString(body, 'Name');
    if (name === undefined) throw new ServiceError('InvalidParameterException', 'You must provide a Name.');
    const value = secretValue(body);
    const token = optionalString(body, 'ClientRequestToken');
    const secret = store.create(name, optionalString(body, 'Description'));
    const out: Record<string, unknown> = { ARN: secret.arn, Name: secret.name };
    if (value) out.VersionId = store.putValue(secret, value, token).id;
    return out;
  },

  PutSecretValue(store, body) {
    const secret = store.find(body.SecretId);
    const value = secretValue(body);
    if (!value) {
      throw new ServiceError(
        'InvalidRequestException',
        'You must provide either SecretString or SecretBinary.',
      );
    }
    let stages: string[] | undefined;
    if (body.VersionStages !== undefined) {
      if (!Array.isArray(body.VersionStages) || !body.VersionStages.every((s) => typeof s === 'string')) {
        throw new ServiceError('InvalidParameterException', 'VersionStages must be a list of strings.');
      }
      stages = body.VersionStages as string[];
    }
    const version = store.putValue(secret, value, optionalString(body, 'ClientRequestToken'), stages);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  },

  GetSecretValue(store, body) {
    const secret = store.find(body.SecretId);
    const versionId = optionalString(body, 'VersionId');
    const explicitStage = optionalString(body, 'VersionStage');
    let version: Version | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (!version) {
        throw new ServiceError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
        );
      }
      if (explicitStage !== undefined && !version.stages.has(explicitStage)) {
        throw new ServiceError(
          'InvalidRequestException',
          `You provided a VersionStage that is not associated to the provided VersionId.`,
        );
      }
    } else {
      const stage = explicitStage ?? CURRENT;
      version = [...secret.versions.values()].find((v) => v.stages.has(stage));
      if (!version) {
        throw new ServiceError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
        );
      }
    }
    secret.lastAccessed = Date.now();
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
      ...(version.secretBinary !== undefined ? { SecretBinary: version.secretBinary } : {}),
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.created),
    };
  },

  DescribeSecret(store, body) {
    const secret = store.find(body.SecretId);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      CreatedDate: epochSeconds(secret.created),
      LastChangedDate: epochSeconds(secret.lastChanged),
      ...(secret.lastAccessed !== undefined ? { LastAccessedDate: epochSeconds(secret.lastAccessed) } : {}),
      VersionIdsToStages: versionIdsToStages(secret),
    };
  },

  ListSecrets(store, body) {
    if (body.Filters !== undefined) {
      throw new ServiceError(
        'InvalidParameterException',
        'Filters are not supported by this local stand-in.',
      );
    }
    const max = typeof body.MaxResults === 'number' ? body.MaxResults : 100;
    if (!Number.isInteger(max) || max < 1 || max > 100) {
      throw new ServiceError('InvalidParameterException', 'MaxResults must be between 1 and 100.');
    }
    const start = typeof body.NextToken === 'string' ? Number.parseInt(body.NextToken, 10) : 0;
    if (!Number.isInteger(start) || start < 0)
      throw new ServiceError('InvalidNextTokenException', 'Invalid NextToken.');
    const all = store.all();
    const page = all.slice(start, start + max).map((secret) => ({
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      CreatedDate: epochSeconds(secret.created),
      LastChangedDate: epochSeconds(secret.lastChanged),
      SecretVersionsToStages: versionIdsToStages(secret),
    }));
    return { SecretList: page, ...(start + max < all.length ? { NextToken: String(start + max) } : {}) };
  },
};

/** Starts the stand-in on 127.0.0.1, with the `seed` secrets already created. */
export async function startSecretsManager(opts: SecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const store = new SecretStore();
  let unavailable = false;
  let counts: Record<string, number> = {};

  const putSecret = (name: string, value: string): string => {
    const secret = store.has(name) ? store.find(name) : store.create(name, undefined);
    return store.putValue(secret, { secretString: value }, undefined).id;
  };
  for (const [name, value] of Object.entries(opts.seed ?? {})) putSecret(name, value);

  const answerError = (res: ServerResponse, error: ServiceError) => {
    send(
      res,
      error.status,
      JSON.stringify({ __type: error.type, message: error.message }),
      'application/x-amz-json-1.1',
      {
        'x-amzn-errortype': error.type,
        'x-amzn-requestid': randomUUID(),
      },
    );
  };

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
      const result = run(store, body);
      send(res, 200, JSON.stringify(result), 'application/x-amz-json-1.1', {
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
      const body = parseJson(await readBody(req));
      if (!isRecord(body) || typeof body.unavailable !== 'boolean') {
        throw new HttpError(400, 'body must be {"unavailable": boolean}');
      }
      unavailable = body.unavailable;
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
