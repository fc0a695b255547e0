/**
 * `npm run callers -- create|list|disable ...`: manages caller keys in whatever DynamoDB the
 * environment points at (AWS, or local with AWS_ENDPOINT_URL_DYNAMODB).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  CallerAdminError,
  createCaller,
  describeCaller,
  disableCaller,
  listCallers,
} from '../shared/callers/admin';
import { DynamoCallerStore } from '../shared/callers/dynamo-caller-store';
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
  npm run callers -- list [--json]
  npm run callers -- disable <keyId>

--groups and --group-names: the groupIds and groupNames the caller may request (exact match;
left out, none may be requested).
--email-domains or --any-email: required with tickets. A key that may mint tickets for any email
can open a session as any user of the tenant, its administrators included: say so with
--any-email, or limit it to your users' domains.

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
  const store = new DynamoCallerStore({
    client: DynamoDBDocumentClient.from(dynamoClient()),
    tableName,
  });

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
        },
        { now: new Date(), ...(config ? { connections: config.connections } : {}) },
      );
      console.log(`created caller ${record.keyId} (${record.name})`);
      console.log(`scopes: ${JSON.stringify(record.scopes)}`);
      console.log('');
      console.log('caller key (shown once; only its hash is stored; hand it over now):');
      console.log(key);
      return 0;
    }
    case 'list': {
      const callers = (await listCallers(store)).map(describeCaller);
      if (values.json) {
        console.log(JSON.stringify(callers, null, 2));
      } else if (callers.length === 0) {
        console.log('no callers');
      } else {
        for (const caller of callers) {
          const scopes = Object.entries(caller.scopes)
            .map(([id, scope]) => `${id}[${[...grants(scope), ...emails(scope)].join(',')}]`)
            .join(' ');
          console.log(
            `${caller.keyId}  ${caller.disabled ? 'DISABLED' : 'active  '}  ${caller.createdAt}  ${caller.name}  ${scopes}`,
          );
        }
      }
      return 0;
    }
    case 'disable': {
      const keyId = rest[0];
      if (!keyId) throw new CallerAdminError('usage: npm run callers -- disable <keyId>');
      await disableCaller(store, keyId, new Date());
      console.log(`disabled caller ${keyId} (takes effect within 15 s, the broker's caller cache)`);
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
