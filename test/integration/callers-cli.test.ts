import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { CallerAuthenticator } from '../../shared/callers/authenticator';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { systemClock } from '../../shared/clock';
import { UnauthorizedError } from '../../shared/errors';
import { runScript } from '../support/child-process';
import { noDeadline } from '../support/fakes';
import { TABLE_NAME, TestStack } from '../support/stack';
import { legacyTicketsCaller } from '../support/table-ports-contract';

/** `npm run callers -- ...` as an operator runs it: a child process against DynamoDB (dynalite). */
let stack: TestStack;
let dir: string;
let configPath: string;

beforeAll(async () => {
  stack = await TestStack.start();
  dir = mkdtempSync(join(tmpdir(), 'tb-callers-'));
  configPath = join(dir, 'connections.json');
  writeFileSync(configPath, JSON.stringify(stack.config));
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const callers = (...args: string[]) => stack.callers(...args);

const authenticator = () =>
  new CallerAuthenticator({
    store: new DynamoCallerStore({ client: stack.documentClient(), tableName: TABLE_NAME }),
    clock: systemClock,
  });

describe('callers command', () => {
  let key: string;
  let keyId: string;

  it('create prints a working key once, with the scopes asked for', async () => {
    const result = await callers(
      'create',
      '--name',
      'Acme analytics',
      '--connection',
      'astrato',
      '--groups',
      'sales,support',
      '--group-names',
      'Sales EMEA, Support',
      '--email-domains',
      'Acme.com',
      '--config',
      configPath,
    );
    expect(result.code).toBe(0);
    const match = /^(tb_([A-Za-z0-9]{16})_[A-Za-z0-9_-]{43})$/m.exec(result.stdout);
    expect(match).not.toBeNull();
    key = match?.[1] ?? '';
    keyId = match?.[2] ?? '';
    expect(result.stdout.split(key)).toHaveLength(2); // printed exactly once
    const caller = await authenticator().authenticate(`Bearer ${key}`, noDeadline);
    expect(caller).toEqual({
      keyId,
      name: 'Acme analytics',
      scopes: {
        astrato: {
          tickets: true,
          tokens: false,
          allowedGroupIds: ['sales', 'support'],
          allowedGroupNames: ['Sales EMEA', 'Support'],
          allowedEmailDomains: ['acme.com'],
          anyEmail: false,
        },
      },
    });
  });

  it('--tokens on an oauth2 connection grants tokens, not tickets', async () => {
    const result = await callers(
      'create',
      '--name',
      'OMS reader',
      '--connection',
      'oms',
      '--tokens',
      '--config',
      configPath,
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"oms":{"tickets":false,"tokens":true');
  });

  it('list shows callers but never a hash or a key', async () => {
    const result = await callers('list');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(keyId);
    expect(result.stdout).toContain('Acme analytics');
    expect(result.stdout).not.toMatch(/[0-9a-f]{64}/);
    expect(result.stdout).not.toContain(key);
    const json = await callers('list', '--json');
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(listed.length).toBe(2);
    for (const entry of listed) expect(entry).not.toHaveProperty('secretHash');
  });

  it('disable makes the key fail', async () => {
    const result = await callers('disable', keyId);
    expect(result.code).toBe(0);
    await expect(authenticator().authenticate(`Bearer ${key}`, noDeadline)).rejects.toThrow(
      new UnauthorizedError('caller key disabled'),
    );
    expect((await callers('list')).stdout).toMatch(new RegExp(`${keyId}\\s+DISABLED`));
  });

  it('refuses an unknown connection, naming it and the configured ones', async () => {
    const result = await callers('create', '--name', 'x', '--connection', 'nope', '--config', configPath);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unknown connection "nope" (configured: astrato, oms)');
  });

  it('against a DynamoDB on 127.0.0.1 needs no AWS account: no region, no credentials, no profile', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tb-home-'));
    try {
      const listed = await runScript('scripts/callers.ts', ['list'], {
        PATH: process.env.PATH ?? '',
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint,
        TABLE_NAME,
      });
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain('Acme analytics');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses a missing table, a missing name and an unknown key id', async () => {
    const noTable = await runScript('scripts/callers.ts', ['list'], {
      ...process.env,
      ...stack.environment(),
      TABLE_NAME: '',
    });
    expect(noTable.code).toBe(1);
    expect(noTable.stderr).toContain('--table <name> or TABLE_NAME');
    const noName = await callers('create', '--connection', 'astrato', '--config', configPath);
    expect(noName.stderr).toContain('--name must be 1 to 200 characters');
    const unknown = await callers('disable', 'AAAAAAAAAAAAAAAA');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no caller with key id AAAAAAAAAAAAAAAA');
  });
});

describe('callers command: whose tickets a key may mint is decided at create', () => {
  const callerCount = async () =>
    (await new DynamoCallerStore({ client: stack.documentClient(), tableName: TABLE_NAME }).list(noDeadline))
      .length;

  it('refuses a tickets scope without --email-domains or --any-email, and creates nothing', async () => {
    const count = await callerCount();
    const result = await callers(
      'create',
      '--name',
      'Open',
      '--connection',
      'astrato',
      '--config',
      configPath,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('tickets on astrato need an email decision');
    expect(result.stderr).toContain('--email-domains');
    expect(result.stderr).toContain('--any-email');
    expect(result.stdout).not.toMatch(/tb_/);
    expect(await callerCount()).toBe(count);
  });

  it('refuses --any-email with --email-domains', async () => {
    const result = await callers(
      'create',
      '--name',
      'Both',
      '--connection',
      'astrato',
      '--any-email',
      '--email-domains',
      'acme.com',
      '--config',
      configPath,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('contradict');
  });

  it('--any-email is recorded and shown by list; a record from before the rule is marked too', async () => {
    const open = await callers(
      'create',
      '--name',
      'Decided open',
      '--connection',
      'astrato',
      '--any-email',
      '--config',
      configPath,
    );
    expect(open.code).toBe(0);
    const openId = /^tb_([A-Za-z0-9]{16})_/m.exec(open.stdout)?.[1];
    // A record as the command wrote it before the decision existed: no anyEmail at all.
    await stack.documentClient().send(
      new PutCommand({
        TableName: TABLE_NAME,
        Item: {
          pk: 'caller#LegacyCaller00001',
          ...legacyTicketsCaller('LegacyCaller00001', 'Legacy open'),
        },
      }),
    );
    // As on a table from before the group index (issue 20): the first list finds it with a scan.
    await stack
      .documentClient()
      .send(new DeleteCommand({ TableName: TABLE_NAME, Key: { pk: 'meta#callers-indexed' } }));
    const text = (await callers('list')).stdout;
    const { Item: indexed } = await stack
      .documentClient()
      .send(new GetCommand({ TableName: TABLE_NAME, Key: { pk: 'caller#LegacyCaller00001' } }));
    expect(indexed).toMatchObject({ gpk: 'caller', gsk: 'LegacyCaller00001' });
    expect(text).toMatch(new RegExp(`${openId}.*Decided open.*astrato\\[tickets,ANY EMAIL\\]`));
    expect(text).toMatch(
      /LegacyCaller00001.*Legacy open.*astrato\[tickets,ANY EMAIL \(created before --any-email was required/,
    );
    expect(text).toMatch(/Acme analytics.*astrato\[tickets,emails:acme\.com\]/);
    const listed = JSON.parse((await callers('list', '--json')).stdout) as {
      name: string;
      scopes: Record<string, { emailRule: string; anyEmail?: boolean }>;
    }[];
    const rule = (name: string) => listed.find((entry) => entry.name === name)?.scopes.astrato;
    expect(rule('Decided open')).toMatchObject({ emailRule: 'any-email', anyEmail: true });
    expect(rule('Legacy open')?.emailRule).toBe('any-email-undecided');
    expect(rule('Acme analytics')?.emailRule).toBe('domains');
  });
});
