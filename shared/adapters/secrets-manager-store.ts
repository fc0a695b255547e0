import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import type { Clock } from '../clock';
import { logDependencyFailure } from '../dependency-guard';
import { ConfigurationError, SecretStoreUnavailableError } from '../errors';
import type { Log } from '../logging/ports';
import type { SensitiveValues } from '../logging/redaction';
import { SingleFlight } from '../single-flight';
import type { SecretReadOptions, SecretStore } from '../tokens/ports';
import type { ClientCredentials } from '../tokens/token';
import '../validation';

/**
 * The client id the CDK app writes into each new secret until an operator puts the real
 * credentials: such a secret is refused here, never sent to a partner's token endpoint.
 */
export const PLACEHOLDER_CLIENT_ID = 'replace-me';

/** A connection's secret (docs/design.md "Configuration"): JSON `{"clientId","clientSecret"}`. */
const secretDocument = z.object({
  clientId: z.string().check(z.minLength(1)),
  clientSecret: z.string().check(z.minLength(1)),
});

/** Errors that mean the secret is missing or not ours to read: an operator must act. */
const CONFIGURATION_FAILURES = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'DecryptionFailure',
  'InvalidRequestException',
  'InvalidParameterException',
]);

/** How many replaced versions of one secret a process remembers. */
const MAX_SUPERSEDED_VERSIONS = 8;

export interface SecretsManagerStoreOptions {
  readonly client: SecretsManagerClient;
  readonly clock: Clock;
  readonly log: Log;
  /** Every client secret read is registered here, so no log line can show it. */
  readonly sensitive: SensitiveValues;
  /** How long a value is reused without asking again. @default 300000 (5 minutes) */
  readonly ttlMs?: number;
}

interface Entry {
  readonly credentials: ClientCredentials;
  readonly fetchedAt: number;
}

/**
 * Client secrets from Secrets Manager: cached per process, version-aware, one request in flight per
 * secret. When Secrets Manager is unavailable a cached value keeps serving (stale beats down).
 * The secret value never appears in an error message or a log line.
 */
export class SecretsManagerStore implements SecretStore {
  private readonly cache = new Map<string, Entry>();
  /** Versions of each secret this process held before a newer one (a few: rotations are rare). */
  private readonly superseded = new Map<string, string[]>();
  private readonly inFlight = new SingleFlight<ClientCredentials>();
  private readonly ttlMs: number;

  constructor(private readonly options: SecretsManagerStoreOptions) {
    this.ttlMs = options.ttlMs ?? 300_000;
  }

  knownVersion(secretId: string): string | undefined {
    return this.cache.get(secretId)?.credentials.versionId;
  }

  isSuperseded(secretId: string, version: string): boolean {
    return this.superseded.get(secretId)?.includes(version) ?? false;
  }

  async get(secretId: string, options: SecretReadOptions): Promise<ClientCredentials> {
    const cached = this.cache.get(secretId);
    if (!options.refresh && cached && this.options.clock.now() - cached.fetchedAt < this.ttlMs) {
      return cached.credentials;
    }
    // A cached value while a read is already under way: the read may be a probe of a hanging
    // Secrets Manager, and a request holding a value does not wait for it.
    if (!options.refresh && cached && this.inFlight.has(secretId)) return cached.credentials;
    return this.inFlight.run(secretId, () => this.read(secretId, cached, options.signal));
  }

  private async read(
    secretId: string,
    cached: Entry | undefined,
    signal: AbortSignal,
  ): Promise<ClientCredentials> {
    let response: { SecretString?: string | undefined; VersionId?: string | undefined };
    try {
      response = await this.options.client.send(new GetSecretValueCommand({ SecretId: secretId }), {
        abortSignal: signal,
      });
    } catch (error) {
      const name = (error as { name?: unknown }).name;
      if (typeof name === 'string' && CONFIGURATION_FAILURES.has(name)) {
        throw new ConfigurationError(`secret ${secretId} cannot be read (${name})`, { cause: error });
      }
      if (cached) {
        logDependencyFailure(
          this.options.log,
          'secrets manager unavailable; using the cached secret',
          { secretId },
          error,
        );
        return cached.credentials;
      }
      throw new SecretStoreUnavailableError(`secrets manager unavailable for ${secretId}`, {
        cause: error,
        retryable: false,
      });
    }
    const credentials = parseSecret(
      secretId,
      response.SecretString,
      response.VersionId,
      this.options.sensitive,
    );
    if (cached && cached.credentials.versionId !== credentials.versionId) {
      // A version rolled back to (AWSCURRENT moved back) is current again, not superseded.
      const older = [...(this.superseded.get(secretId) ?? []), cached.credentials.versionId].filter(
        (version) => version !== credentials.versionId,
      );
      this.superseded.set(secretId, older.slice(-MAX_SUPERSEDED_VERSIONS));
    }
    this.cache.set(secretId, { credentials, fetchedAt: this.options.clock.now() });
    return credentials;
  }
}

function parseSecret(
  secretId: string,
  secretString: string | undefined,
  versionId: string | undefined,
  sensitive: SensitiveValues,
): ClientCredentials {
  if (secretString === undefined || versionId === undefined) {
    throw new ConfigurationError(`secret ${secretId} has no string value`);
  }
  let document: unknown;
  try {
    document = JSON.parse(secretString);
  } catch {
    // Deliberately no detail: a JSON parser's message may quote the secret.
    throw new ConfigurationError(`secret ${secretId} is not JSON {"clientId","clientSecret"}`);
  }
  const parsed = secretDocument.safeParse(document);
  if (!parsed.success) {
    throw new ConfigurationError(
      `secret ${secretId} must be JSON {"clientId","clientSecret"} with non-empty strings (bad: ${parsed.error.issues
        .map((issue) => issue.path.join('.') || '(root)')
        .join(', ')})`,
    );
  }
  sensitive.register(parsed.data.clientSecret);
  if (parsed.data.clientId === PLACEHOLDER_CLIENT_ID) {
    throw new ConfigurationError(
      `secret ${secretId} still holds the deployment's placeholder: put the client credentials with put-secret-value`,
    );
  }
  return { clientId: parsed.data.clientId, clientSecret: parsed.data.clientSecret, versionId };
}
