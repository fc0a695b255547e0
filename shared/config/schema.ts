import { z } from 'zod';

/**
 * The broker's non-secret configuration (DESIGN.md "Configuration").
 * One schema, used by the functions at cold start, by `npm start` and by the CDK app.
 */

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** True when a URL points at this machine, where plain HTTP is acceptable (local stack, tests). */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** An absolute URL that is HTTPS, or HTTP on loopback only: tokens and secrets never travel in clear text. */
const secureUrl = z.string().superRefine((value, ctx) => {
  if (!URL.canParse(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return;
  }
  const url = new URL(value);
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackUrl(url)))) {
    ctx.addIssue({
      code: 'custom',
      message: 'must use https (plain http is allowed on 127.0.0.1/localhost only)',
    });
  }
  if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
});

const secretId = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[A-Za-z0-9/_+=.@:-]+$/, 'must be a Secrets Manager secret name or ARN');

/** Astrato OEM web-ticket connection. */
export const astratoConnectionSchema = z
  .object({
    kind: z.literal('astrato-oem'),
    baseUrl: secureUrl.transform((value) => value.replace(/\/+$/, '')),
    secretId,
    embedUrlTemplate: z
      .string()
      .refine((value) => value.includes('{ticketId}'), { message: 'must contain {ticketId}' })
      .default('{baseUrl}/auth/proxy/oem/ticket/{ticketId}/embed'),
    /** Per-attempt timeout of upstream HTTP calls. */
    timeoutMs: z.number().int().min(100).max(30_000).default(5_000),
  })
  .strict();

/** OAuth 2.0 client-credentials connection (e.g. a Keycloak realm). */
export const oauth2ConnectionSchema = z
  .object({
    kind: z.literal('oauth2-client-credentials'),
    tokenUrl: secureUrl,
    clientAuth: z.enum(['client_secret_post', 'client_secret_basic']),
    scope: z
      .string()
      .regex(
        /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/,
        'must be space-separated scope tokens',
      )
      .optional(),
    secretId,
    probeUrl: secureUrl.optional(),
    vendable: z.boolean().default(false),
    timeoutMs: z.number().int().min(100).max(30_000).default(5_000),
  })
  .strict();

export const connectionSchema = z.discriminatedUnion('kind', [
  astratoConnectionSchema,
  oauth2ConnectionSchema,
]);

export const refreshSettingsSchema = z
  .object({
    hardSkewSeconds: z.number().int().min(0).max(600).default(30),
    minWindowSeconds: z.number().int().min(0).max(3600).default(120),
  })
  .strict();

/** Longest a cached caller record may serve while the table is unreachable (the revocation bound in an outage). */
export const DEFAULT_CALLER_MAX_STALE_SECONDS = 300;

/**
 * How the API treats caller records. A record is re-read every 15 s; while DynamoDB cannot be
 * reached, the last one read keeps authenticating for at most `maxStaleSeconds` after that read
 * (so a key disabled just before an outage works at most that long), then the caller gets 503.
 */
export const callerSettingsSchema = z
  .object({
    maxStaleSeconds: z.number().int().min(0).max(900).default(DEFAULT_CALLER_MAX_STALE_SECONDS),
  })
  .strict();

/** Connection ids appear in table keys, URLs and metrics dimensions. */
export const CONNECTION_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const brokerConfigSchema = z
  .object({
    connections: z
      .record(
        z.string().regex(CONNECTION_ID_PATTERN, 'connection ids are 1-63 of a-z 0-9 _ - (lower case)'),
        connectionSchema,
      )
      .refine((connections) => Object.keys(connections).length > 0, {
        message: 'at least one connection is required',
      }),
    refresh: refreshSettingsSchema.default({ hardSkewSeconds: 30, minWindowSeconds: 120 }),
    callers: callerSettingsSchema.default({ maxStaleSeconds: DEFAULT_CALLER_MAX_STALE_SECONDS }),
  })
  .strict();

export type AstratoConnection = z.infer<typeof astratoConnectionSchema>;
export type OAuth2Connection = z.infer<typeof oauth2ConnectionSchema>;
export type Connection = z.infer<typeof connectionSchema>;
export type ConnectionKind = Connection['kind'];
export type RefreshSettings = z.infer<typeof refreshSettingsSchema>;
export type CallerSettings = z.infer<typeof callerSettingsSchema>;
export type BrokerConfig = z.infer<typeof brokerConfigSchema>;
/** The document as written by people (defaults not yet applied). */
export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;

/** Thrown when the configuration document is invalid; the message names every bad field. */
export class ConfigValidationError extends Error {
  override readonly name = 'ConfigValidationError';
  constructor(
    readonly issues: readonly string[],
    source: string,
  ) {
    super(`invalid configuration (${source}): ${issues.join('; ')}`);
  }
}

function describePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // A bad record key: zod nests the key's own issues; they say what is wrong with it.
  if (issue.code === 'invalid_key') return issue.issues.map((nested) => nested.message).join(', ');
  return issue.message;
}

/**
 * Validates a configuration document and applies defaults.
 * @param source where it came from, for the error message (a file path, an env var)
 * @throws ConfigValidationError naming each bad field
 */
export function parseBrokerConfig(document: unknown, source = 'configuration'): BrokerConfig {
  const result = brokerConfigSchema.safeParse(document);
  if (!result.success) {
    throw new ConfigValidationError(
      result.error.issues.map((issue) => `${describePath(issue.path)}: ${describeIssue(issue)}`),
      source,
    );
  }
  return result.data;
}

/** Parses JSON text, then validates it; a JSON syntax error is reported as such. */
export function parseBrokerConfigJson(text: string, source = 'configuration'): BrokerConfig {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigValidationError([`not valid JSON (${(error as Error).message})`], source);
  }
  return parseBrokerConfig(document, source);
}
