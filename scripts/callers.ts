/**
 * `npm run callers -- create|list|rotate|update|disable|audit ...`: manages caller keys and reads
 * the audit trail in whatever DynamoDB the environment points at (AWS, or local with
 * AWS_ENDPOINT_URL_DYNAMODB).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditRecord } from '../shared/audit/audit-trail';
import { DynamoAuditReader } from '../shared/audit/dynamo-audit-reader';
import {
  CallerAdminError,
  createCaller,
  describeCaller,
  disableCaller,
  listCallers,
  parseDuration,
  rotateCaller,
  updateCallerSources,
} from '../shared/callers/admin';
import { DynamoCallerStore } from '../shared/callers/dynamo-caller-store';
import { DynamoLastUseStore } from '../shared/callers/dynamo-last-use-store';
import {
  type BrokerConfig,
  ConfigValidationError,
  isLoopbackUrl,
  parseBrokerConfigJson,
} from '../shared/config/schema';

const USAGE = `usage:
  npm run callers -- create --name <name> --connection <id> [--connection <id> ...]
                            (--email-domains x.com,y.org | --any-email)
                            [--groups a,b] [--group-names "Sales EMEA,Support"]
                            [--tokens] [--no-tickets]
                            [--expires-in 90d] [--source-cidrs 203.0.113.0/24,2001:db8::/32]
  npm run callers -- list [--json]
  npm run callers -- rotate <keyId> [--overlap 24h] [--expires-in 90d]
  npm run callers -- update <keyId> (--source-cidrs <cidr,...> | --any-source)
  npm run callers -- disable <keyId>
  npm run callers -- audit [--since 1h] [--caller <keyId>] [--email <address>] [--limit 10000] [--json]

--groups and --group-names: the groupIds and groupNames the caller may request (exact match;
left out, none may be requested).
--email-domains or --any-email: required with tickets. A key that may mint tickets for any email
can open a session as any user of the tenant, its administrators included: say so with
--any-email, or limit it to your users' domains.
--expires-in: the key stops working after this long (whole hours or days: 24h, 90d).
--source-cidrs: requests must come from these networks (IPv4 or IPv6; API Gateway's source IP).
rotate: a new key with the same name, scopes and networks (and lifetime), printed once; the old
key keeps working for --overlap (default 24h; 0 ends it at once), then expires.
audit: tickets issued, tokens vended and refusals (403), oldest first, since --since (default 1h).

options (all commands):
  --table <name>    DynamoDB table (default: $TABLE_NAME)
  --config <path>   configuration to check connection ids against
                    (default: $TICKET_BROKER_CONFIG, or config/connections.json if present)

The table is reached through the AWS SDK's usual settings (AWS_REGION, credentials, and
AWS_ENDPOINT_URL_DYNAMODB for a local DynamoDB). With AWS_ENDPOINT_URL_DYNAMODB on 127.0.0.1
(the local stack: \`npm start\` prints the whole environment) no AWS account is needed.`;

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

function loadConfig(path: string | undefined): BrokerConfig | undefined {
  const candidate = path ?? process.env.TICKET_BROKER_CONFIG ?? 'config/connections.json';
  let text: string;
  try {
    text = readFileSync(candidate, 'utf8');
  } catch {
    if (path !== undefined) throw new CallerAdminError(`cannot read configuration ${path}`);
    return undefined;
  }
  return parseBrokerConfigJson(text, candidate);
}

/**
 * The SDK's usual settings; against a DynamoDB on this machine (the local stack's
 * AWS_ENDPOINT_URL_DYNAMODB on 127.0.0.1) no AWS account is needed, so a missing region or
 * missing credentials are filled in with placeholders instead of failing.
 */
function dynamoClient(): DynamoDBClient {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint === undefined || !URL.canParse(endpoint) || !isLoopbackUrl(new URL(endpoint))) {
    return new DynamoDBClient({});
  }
  const hasCredentials = Boolean(process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY);
  return new DynamoDBClient({
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(hasCredentials ? {} : { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
  });
}

function grants(scope: { tickets: boolean; tokens: boolean }): string[] {
  return [scope.tickets ? 'tickets' : '', scope.tokens ? 'tokens' : ''].filter(Boolean);
}

/** Whose tickets a scope may mint, as `list` prints it; an undecided open scope stands out. */
function emails(scope: ReturnType<typeof describeCaller>['scopes'][string]): string[] {
  switch (scope.emailRule) {
    case 'domains':
      return [`emails:${scope.allowedEmailDomains.join('|')}`];
    case 'any-email':
      return ['ANY EMAIL'];
    case 'any-email-undecided':
      return ['ANY EMAIL (created before --any-email was required; recreate it with a decision)'];
    case 'no-email':
      return ['no email'];
    default:
      return [];
  }
}

/** One line per caller: key id, state, created, expiry, last use, name, scopes, networks, rotation. */
function callerLine(caller: ReturnType<typeof describeCaller>): string {
  const scopes = Object.entries(caller.scopes)
    .map(([id, scope]) => `${id}[${[...grants(scope), ...emails(scope)].join(',')}]`)
    .join(' ');
  const state = { active: 'active  ', expired: 'EXPIRED ', disabled: 'DISABLED' }[caller.state];
  const extra = [
    `expires:${caller.expiresAt ?? 'never'}`,
    `last-used:${caller.lastUsedAt ?? 'never'}`,
    ...(caller.sourceCidrs ? [`from:${caller.sourceCidrs.join('|')}`] : []),
    ...(caller.replaces ? [`replaces:${caller.replaces}`] : []),
    ...(caller.replacedBy ? [`replaced-by:${caller.replacedBy}`] : []),
  ];
  return `${caller.keyId}  ${state}  ${caller.createdAt}  ${caller.name}  ${scopes}  ${extra.join('  ')}`;
}

/** One line per audit record: never more than the record holds (no ticket, token or key). */
function auditLine(record: AuditRecord): string {
  const groups = [
    ...(record.groupIds?.length ? [`groupIds=${record.groupIds.join('|')}`] : []),
    ...(record.groupNames?.length ? [`groupNames=${JSON.stringify(record.groupNames.join('|'))}`] : []),
  ];
  return [
    record.at,
    record.outcome + (record.error ? `(${record.error})` : ''),
    record.action,
    `caller=${record.callerKeyId}`,
    JSON.stringify(record.callerName),
    `from=${record.sourceIp}`,
    ...(record.connection ? [`connection=${record.connection}`] : []),
    ...(record.email ? [`email=${record.email}`] : []),
    ...groups,
    `request=${record.requestId}`,
    ...(record.detail ? [`detail=${JSON.stringify(record.detail)}`] : []),
  ].join('  ');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      connection: { type: 'string', multiple: true },
      groups: { type: 'string' },
      'group-names': { type: 'string' },
      'email-domains': { type: 'string' },
      'any-email': { type: 'boolean' },
      tokens: { type: 'boolean' },
      'no-tickets': { type: 'boolean' },
      'expires-in': { type: 'string' },
      'source-cidrs': { type: 'string' },
      'any-source': { type: 'boolean' },
      overlap: { type: 'string' },
      since: { type: 'string' },
      caller: { type: 'string' },
      email: { type: 'string' },
      limit: { type: 'string' },
      table: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const tableName = values.table ?? process.env.TABLE_NAME;
  if (!tableName) throw new CallerAdminError('the table is required: --table <name> or TABLE_NAME');
  const table = { client: DynamoDBDocumentClient.from(dynamoClient()), tableName };
  const store = new DynamoCallerStore(table);
  const expiresInMs =
    values['expires-in'] === undefined ? undefined : parseDuration('--expires-in', values['expires-in']);

  switch (command) {
    case 'create': {
      const config = loadConfig(values.config);
      const { record, key } = await createCaller(
        store,
        {
          name: values.name ?? '',
          connections: values.connection ?? [],
          groupIds: list(values.groups),
          groupNames: list(values['group-names']),
          emailDomains: list(values['email-domains']),
          ...(values['any-email'] ? { anyEmail: true } : {}),
          ...(values.tokens ? { tokens: true } : {}),
          ...(values['no-tickets'] ? { tickets: false } : {}),
          ...(expiresInMs !== undefined ? { expiresInMs } : {}),
          ...(values['source-cidrs'] !== undefined ? { sourceCidrs: list(values['source-cidrs']) } : {}),
        },
        { now: new Date(), ...(config ? { connections: config.connections } : {}) },
      );
      console.log(`created caller ${record.keyId} (${record.name})`);
      console.log(`scopes: ${JSON.stringify(record.scopes)}`);
      console.log(`expires: ${record.expiresAt ?? 'never'}`);
      console.log(`source networks: ${record.sourceCidrs?.join(', ') ?? 'any'}`);
      console.log('');
      console.log('caller key (shown once; only its hash is stored; hand it over now):');
      console.log(key);
      return 0;
    }
    case 'list': {
      const now = new Date();
      const callers = (await listCallers(store, new DynamoLastUseStore(table))).map(
        ({ record, lastUsedAt }) => describeCaller(record, { now, lastUsedAt }),
      );
      if (values.json) {
        console.log(JSON.stringify(callers, null, 2));
      } else if (callers.length === 0) {
        console.log('no callers');
      } else {
        for (const caller of callers) console.log(callerLine(caller));
      }
      return 0;
    }
    case 'rotate': {
      const keyId = rest[0];
      if (!keyId) throw new CallerAdminError('usage: npm run callers -- rotate <keyId> [--overlap 24h]');
      const overlapMs = values.overlap === undefined ? undefined : parseDuration('--overlap', values.overlap);
      const { record, key, oldExpiresAt } = await rotateCaller(store, keyId, {
        now: new Date(),
        ...(overlapMs !== undefined ? { overlapMs } : {}),
        ...(expiresInMs !== undefined ? { expiresInMs } : {}),
      });
      console.log(`created caller ${record.keyId} (${record.name}), replacing ${keyId}`);
      console.log(`scopes: ${JSON.stringify(record.scopes)}`);
      console.log(`expires: ${record.expiresAt ?? 'never'}`);
      console.log(`source networks: ${record.sourceCidrs?.join(', ') ?? 'any'}`);
      console.log(
        `the old key ${keyId} expires at ${oldExpiresAt} (within 15 s of that, the broker's caller cache); both work until then`,
      );
      console.log('');
      console.log('caller key (shown once; only its hash is stored; hand it over now):');
      console.log(key);
      return 0;
    }
    case 'update': {
      const keyId = rest[0];
      const cidrs = values['source-cidrs'];
      if (!keyId || (cidrs === undefined) === (values['any-source'] !== true))
        throw new CallerAdminError(
          'usage: npm run callers -- update <keyId> (--source-cidrs <cidr,...> | --any-source)',
        );
      const stored = await updateCallerSources(store, keyId, cidrs === undefined ? null : list(cidrs));
      console.log(
        `caller ${keyId}: source networks ${stored ? stored.join(', ') : 'any'} (takes effect within 15 s, the broker's caller cache)`,
      );
      return 0;
    }
    case 'disable': {
      const keyId = rest[0];
      if (!keyId) throw new CallerAdminError('usage: npm run callers -- disable <keyId>');
      await disableCaller(store, keyId, new Date());
      console.log(`disabled caller ${keyId} (takes effect within 15 s, the broker's caller cache)`);
      return 0;
    }
    case 'audit': {
      const sinceMs = parseDuration('--since', values.since ?? '1h');
      const limit = values.limit === undefined ? 10_000 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new CallerAdminError('--limit must be a whole number from 1');
      const now = Date.now();
      const { records, truncated } = await new DynamoAuditReader(table).query(
        {
          since: now - sinceMs,
          until: now + 1,
          limit,
          ...(values.caller !== undefined ? { callerKeyId: values.caller } : {}),
          ...(values.email !== undefined ? { email: values.email } : {}),
        },
        AbortSignal.timeout(300_000),
      );
      if (values.json) console.log(JSON.stringify(records, null, 2));
      else if (records.length === 0) console.log('no audit records');
      else for (const record of records) console.log(auditLine(record));
      if (truncated)
        console.error(`callers: the first ${limit} records only: narrow --since or raise --limit`);
      return 0;
    }
    default:
      throw new CallerAdminError(`unknown command "${command}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof CallerAdminError || error instanceof ConfigValidationError) {
      console.error(`callers: ${error.message}`);
    } else if (
      error instanceof TypeError &&
      'code' in error &&
      String(error.code).startsWith('ERR_PARSE_ARGS')
    ) {
      console.error(`callers: ${error.message}\n${USAGE}`);
    } else {
      console.error(`callers: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
    process.exitCode = 1;
  },
);
