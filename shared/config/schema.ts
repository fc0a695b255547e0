import * as z from 'zod/mini';
import type { ValidationIssue } from '../validation';
import '../validation';

/**
 * The broker's non-secret configuration (docs/design.md "Configuration").
 * One schema, used by the functions at cold start, by `npm start` and by the CDK app.
 */

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** True when a URL points at this machine, where plain HTTP is acceptable (local stack, tests). */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** An absolute URL that is HTTPS, or HTTP on loopback only: tokens and secrets never travel in clear text. */
const secureUrl = z.string().check(
  z.superRefine((value, ctx) => {
    if (!URL.canParse(value)) {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute URL', input: value });
      return;
    }
    const url = new URL(value);
    if (!(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackUrl(url)))) {
      ctx.addIssue({
        code: 'custom',
        message: 'must use https (plain http is allowed on 127.0.0.1/localhost only)',
        input: value,
      });
    }
    if (url.username || url.password)
      ctx.addIssue({ code: 'custom', message: 'must not carry credentials', input: value });
  }),
);

const secretId = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(2048),
    z.regex(/^[A-Za-z0-9/_+=.@:-]+$/, 'must be a Secrets Manager secret name or ARN'),
  );

/** A URL template with `{ticketId}` (and optionally `{baseUrl}`). */
const ticketUrlTemplate = z
  .string()
  .check(z.refine((value) => value.includes('{ticketId}'), { message: 'must contain {ticketId}' }));

/** A `denyEmails` entry naming a whole domain: `@` and a host name. */
const DENY_DOMAIN = /^@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/** Per-attempt timeout of upstream HTTP calls. */
const timeoutMs = z._default(z.number().check(z.int(), z.minimum(100), z.maximum(30_000)), 5_000);

/** Astrato OEM web-ticket connection. */
export const astratoConnectionSchema = z
  .strictObject({
    kind: z.literal('astrato-oem'),
    baseUrl: z.pipe(
      secureUrl,
      z.transform((value: string) => value.replace(/\/+$/, '')),
    ),
    secretId,
    /** Top-level redemption (`/embed`): sets the vendor's cookie and opens its UI. */
    embedUrlTemplate: z._default(ticketUrlTemplate, '{baseUrl}/auth/proxy/oem/ticket/{ticketId}/embed'),
    /** Credentialed-fetch redemption (`?embed`): sets the vendor's cookie and answers the user as JSON. */
    redeemUrlTemplate: z._default(ticketUrlTemplate, '{baseUrl}/auth/proxy/oem/ticket/{ticketId}?embed'),
    /**
     * Ends the vendor session (the browser requests it with its cookie).
     * @see https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication
     */
    signOutUrl: z._default(
      z.string().check(
        z.superRefine((value, ctx) => {
          if (value.includes('{ticketId}'))
            ctx.addIssue({ code: 'custom', message: 'must not contain {ticketId}', input: value });
        }),
      ),
      '{baseUrl}/auth/proxy/0/sign_out',
    ),
    /**
     * Refuse a ticket request with neither groupIds nor groupNames: the vendor would create a user
     * without any permission. On by default: opt out only for a tenant where that is wanted.
     * @default true
     * @see https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication
     */
    requireGroup: z._default(z.boolean(), true),
    /**
     * Accounts no caller may ever get a ticket for, such as the tenant's administrators: exact
     * addresses (`admin@acme.com`) or whole domains (`@acme-admins.com`), matched lower-case.
     * @default []
     */
    denyEmails: z._default(
      z
        .array(
          z.pipe(
            z.string().check(
              z.maxLength(254),
              z.refine(
                (entry) => DENY_DOMAIN.test(entry) || z.email().safeParse(entry).success,
                'must be an email address or @domain',
              ),
            ),
            z.transform((entry: string) => entry.toLowerCase()),
          ),
        )
        .check(z.maxLength(1000)),
      [],
    ),
    timeoutMs,
  })
  .check(
    z.superRefine((connection, ctx) => {
      // Browser-facing URLs: absolute, and never plain http off this machine (they carry a ticket).
      for (const field of ['embedUrlTemplate', 'redeemUrlTemplate', 'signOutUrl'] as const) {
        // Starting with {baseUrl}, it inherits baseUrl's checks (and is not reported twice).
        if (connection[field].startsWith('{baseUrl}/')) continue;
        const filled = connection[field]
          .replaceAll('{baseUrl}', connection.baseUrl)
          .replaceAll('{ticketId}', 'ticket');
        const url = URL.canParse(filled) ? new URL(filled) : undefined;
        if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackUrl(url)))) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'must give an absolute https URL once {baseUrl} is filled in',
            input: connection[field],
          });
        }
      }
    }),
  );

/** OAuth 2.0 client-credentials connection (e.g. a Keycloak realm). */
export const oauth2ConnectionSchema = z.strictObject({
  kind: z.literal('oauth2-client-credentials'),
  tokenUrl: secureUrl,
  clientAuth: z.enum(['client_secret_post', 'client_secret_basic']),
  scope: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/,
          'must be space-separated scope tokens',
        ),
      ),
  ),
  secretId,
  probeUrl: z.optional(secureUrl),
  vendable: z._default(z.boolean(), false),
  timeoutMs,
});

export const connectionSchema = z.discriminatedUnion('kind', [
  astratoConnectionSchema,
  oauth2ConnectionSchema,
]);

/** How many connections the refresher renews at once, unless the configuration says otherwise. */
export const DEFAULT_REFRESH_CONCURRENCY = 8;

export const refreshSettingsSchema = z.strictObject({
  hardSkewSeconds: z._default(z.number().check(z.int(), z.minimum(0), z.maximum(600)), 30),
  minWindowSeconds: z._default(z.number().check(z.int(), z.minimum(0), z.maximum(3600)), 120),
  /**
   * At most this many connections are refreshed at once by a run (token endpoint, secret, table
   * and probe calls), shared fairly between token endpoint hosts. Bounded so that one 512 MB
   * function never opens hundreds of requests at once, nor one realm gets a burst of grants.
   * @default 8
   */
  concurrency: z._default(
    z.number().check(z.int(), z.minimum(1), z.maximum(64)),
    DEFAULT_REFRESH_CONCURRENCY,
  ),
});

/** Longest a cached caller record may serve while the table is unreachable (the revocation bound in an outage). */
export const DEFAULT_CALLER_MAX_STALE_SECONDS = 300;

/**
 * How the API treats caller records. A record is re-read every 15 s; while DynamoDB cannot be
 * reached, the last one read keeps authenticating for at most `maxStaleSeconds` after that read
 * (so a key disabled just before an outage works at most that long), then the caller gets 503.
 */
export const callerSettingsSchema = z.strictObject({
  maxStaleSeconds: z._default(
    z.number().check(z.int(), z.minimum(0), z.maximum(900)),
    DEFAULT_CALLER_MAX_STALE_SECONDS,
  ),
});

/** How long audit records are kept by default: a year, as security reviews usually ask. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 365;

/**
 * The audit trail (docs/design.md "Audit trail"): each record carries a TTL this many days after
 * it was written, so DynamoDB deletes it then. A change applies to records written after it.
 */
export const auditSettingsSchema = z.strictObject({
  retentionDays: z._default(
    z.number().check(z.int(), z.minimum(1), z.maximum(3650)),
    DEFAULT_AUDIT_RETENTION_DAYS,
  ),
});

/** Connection ids appear in table keys, URLs and metrics dimensions. */
export const CONNECTION_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const brokerConfigSchema = z.strictObject({
  connections: z
    .record(
      z.string().check(z.regex(CONNECTION_ID_PATTERN, 'connection ids are 1-63 of a-z 0-9 _ - (lower case)')),
      connectionSchema,
    )
    .check(
      z.refine((connections) => Object.keys(connections).length > 0, {
        message: 'at least one connection is required',
      }),
    ),
  refresh: z._default(refreshSettingsSchema, {
    hardSkewSeconds: 30,
    minWindowSeconds: 120,
    concurrency: DEFAULT_REFRESH_CONCURRENCY,
  }),
  callers: z._default(callerSettingsSchema, { maxStaleSeconds: DEFAULT_CALLER_MAX_STALE_SECONDS }),
  audit: z._default(auditSettingsSchema, { retentionDays: DEFAULT_AUDIT_RETENTION_DAYS }),
});

export type AstratoConnection = z.infer<typeof astratoConnectionSchema>;
export type OAuth2Connection = z.infer<typeof oauth2ConnectionSchema>;
export type Connection = z.infer<typeof connectionSchema>;
export type ConnectionKind = Connection['kind'];
export type RefreshSettings = z.infer<typeof refreshSettingsSchema>;
export type CallerSettings = z.infer<typeof callerSettingsSchema>;
export type AuditSettings = z.infer<typeof auditSettingsSchema>;
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

function describeIssue(issue: ValidationIssue): string {
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
