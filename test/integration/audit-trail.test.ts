import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditRecord } from '../../shared/audit/audit-trail';
import { createCaller } from '../../shared/callers/admin';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { type ApiHandler, type ApiResponse, addCaller, bearer, invoke } from '../support/api-harness';
import type { EventOptions } from '../support/events';
import { OutputCapture } from '../support/log-capture';
import { ASTRATO_CLIENT, OMS_CLIENT, TABLE_NAME, TestStack } from '../support/stack';

/**
 * The audit trail and the source networks end to end: the real handler module over real sockets
 * (dynalite, the simulators), then `npm run callers -- audit|list` as an operator runs them against
 * the same table. Expiry and rotation overlap, which need an injected clock, are in
 * test/unit/caller-lifecycle.test.ts.
 */
const output = new OutputCapture();
let stack: TestStack;
let handler: ApiHandler;
const callers: Record<string, { key: string; keyId: string }> = {};
/** Every ticket id, token and key this file produced: none may be in an audit record. */
const produced: string[] = [];
/** When this file began: every use it makes of a key is at or after it. */
let fileStart: number;

beforeAll(async () => {
  fileStart = Date.now();
  output.start();
  stack = await TestStack.start();
  const { loadApiHandler } = await import('../support/api-harness');
  handler = await loadApiHandler(stack);
  const inputs = {
    tickets: { name: 'Acme analytics', connections: ['astrato'], anyEmail: true, groupIds: ['sales'] },
    tokens: { name: 'OMS reader', connections: ['oms'], tokens: true },
    networked: {
      name: 'Acme from its offices',
      connections: ['astrato'],
      emailDomains: ['acme.example'],
      groupIds: ['sales'],
      sourceCidrs: ['198.51.100.0/24', '2001:DB8::/32'],
    },
    idle: { name: 'Never used', connections: ['oms'], tokens: true },
    fenced: {
      name: 'Only ever tried from outside its network',
      connections: ['astrato'],
      emailDomains: ['acme.example'],
      groupIds: ['sales'],
      sourceCidrs: ['198.51.100.0/24'],
    },
  };
  for (const [label, input] of Object.entries(inputs)) {
    callers[label] = await addCaller(stack, input);
    produced.push(callers[label]?.key ?? '');
  }
  produced.push(ASTRATO_CLIENT.clientSecret, OMS_CLIENT.clientSecret);
}, 60_000);

afterAll(async () => {
  output.stop();
  await stack?.stop();
});

const caller = (label: string) => {
  const found = callers[label];
  if (!found) throw new Error(`no caller ${label}`);
  return found;
};

async function call(label: string, options: EventOptions): Promise<ApiResponse> {
  const response = await invoke(handler, {
    ...options,
    headers: { ...bearer(caller(label).key), 'content-type': 'application/json', ...options.headers },
  });
  for (const field of ['ticketId', 'access_token', 'redeemUrl', 'embedUrl'])
    if (typeof response.body[field] === 'string') produced.push(response.body[field] as string);
  return response;
}

const callersCommand = (...args: string[]) => stack.callers(...args);

async function auditItems(): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: TABLE_NAME }));
  return Items.filter((item) => String(item.pk).startsWith('audit#'));
}

const requests: Record<string, string> = {};
/** API Gateway's request ids hold `+` and `/`: literal in a pattern. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('source networks (requestContext.http.sourceIp)', () => {
  const ticket = (sourceIp: string) =>
    call('networked', { sourceIp, body: { email: 'ada@acme.example', groupIds: ['sales'] } });

  it('IPv4: inside the network a ticket; outside 403 forbidden with no upstream call', async () => {
    stack.astrato.resetCounts();
    const inside = await ticket('198.51.100.7');
    expect(inside.status).toBe(201);
    expect(stack.astrato.counts().setup).toBe(1);
    stack.astrato.resetCounts();
    const outside = await ticket('203.0.113.17');
    expect(outside.status).toBe(403);
    expect(outside.headers['content-type']).toBe('application/problem+json');
    expect(outside.body).toMatchObject({
      code: 'forbidden',
      detail: 'requests from "203.0.113.17" are outside this caller\'s source networks',
    });
    expect(stack.astrato.counts()).toMatchObject({ token: 0, setup: 0 });
    requests.networkRefused = outside.requestId;
  });

  it('IPv6: inside the network a ticket (written in any case), outside 403; IPv4-mapped IPv6 counts as IPv4', async () => {
    expect((await ticket('2001:db8:1234::5')).status).toBe(201);
    stack.astrato.resetCounts();
    expect((await ticket('2001:db9::1')).status).toBe(403);
    expect((await ticket('::ffff:203.0.113.17')).status).toBe(403);
    expect(stack.astrato.counts()).toMatchObject({ setup: 0 });
    expect((await ticket('::ffff:198.51.100.9')).status).toBe(201);
  });

  it('a key only ever refused for its source address has not been used (no last use)', async () => {
    const refused = await call('fenced', {
      sourceIp: '203.0.113.99',
      body: { email: 'ada@acme.example', groupIds: ['sales'] },
    });
    expect(refused.status).toBe(403);
    const { Item } = await stack
      .documentClient()
      .send(new GetCommand({ TableName: TABLE_NAME, Key: { pk: `lastused#${caller('fenced').keyId}` } }));
    expect(Item).toBeUndefined();
  });
});

describe('an expired key', () => {
  it('gets the same 401 as an unknown key; only the log line says why, with the key id', async () => {
    // Expired an hour ago: the clock of this handler is the system's, so the record says so.
    const store = new DynamoCallerStore({ client: stack.documentClient(), tableName: TABLE_NAME });
    const { key, record } = await createCaller(
      store,
      { name: 'Lapsed', connections: ['oms'], tokens: true, expiresInMs: 3_600_000 },
      { connections: stack.config.connections, now: new Date(Date.now() - 7_200_000) },
    );
    produced.push(key);
    const ask = (presented: string) =>
      invoke(handler, { method: 'POST', path: '/v1/connections/oms/token', headers: bearer(presented) });
    const expired = await ask(key);
    const unknown = await ask(`tb_${record.keyId.replace(/.$/, 'Z')}_${'A'.repeat(43)}`);
    expect(expired.status).toBe(401);
    expect({ ...expired.body, requestId: '' }).toEqual({ ...unknown.body, requestId: '' });
    const access = (requestId: string) =>
      output.lines().find((line) => line.message === 'request' && line.requestId === requestId);
    expect(access(expired.requestId)).toMatchObject({
      status: 401,
      authFailure: 'expired',
      caller: record.keyId,
    });
    expect(access(unknown.requestId)).toMatchObject({ status: 401, authFailure: 'invalid' });
    expect(access(unknown.requestId)).not.toHaveProperty('caller');
    expect(JSON.stringify(output.lines())).not.toContain(key);
  });
});

describe('the audit trail', () => {
  it('records each outcome: a ticket issued, a token vended, refusals, a ticket whose vendor call failed', async () => {
    const issued = await call('tickets', {
      body: { email: 'Grace@Example.com', groupIds: ['sales'], name: 'Grace Hopper' },
    });
    expect(issued.status).toBe(201);
    requests.issued = issued.requestId;
    const vended = await call('tokens', { path: '/v1/connections/oms/token' });
    expect(vended.status).toBe(200);
    requests.vended = vended.requestId;
    const refused = await call('tickets', { body: { email: 'eve@example.com', groupIds: ['admins'] } });
    expect(refused.status).toBe(403);
    requests.refused = refused.requestId;
    const status = await call('tokens', { method: 'GET', path: '/v1/connections/astrato/status' });
    expect(status.status).toBe(403);
    requests.status = status.requestId;
    stack.astrato.faults.set('setup', { status: 400 });
    const failed = await call('tickets', { body: { email: 'failed@example.com', groupIds: ['sales'] } });
    stack.astrato.faults.clear();
    expect(failed.status).toBe(502);
    requests.failed = failed.requestId;
    // An unknown key is not an authenticated caller: no record (the access log line has it).
    const unknown = await invoke(handler, {
      headers: { ...bearer(`tb_AAAAAAAAAAAAAAAA_${'A'.repeat(43)}`), 'content-type': 'application/json' },
      body: { email: 'x@example.com' },
    });
    expect(unknown.status).toBe(401);

    const records = (await auditItems()) as unknown as AuditRecord[];
    const of = (requestId: string | undefined) =>
      records
        .filter((record) => record.requestId === requestId)
        // A failed ticket's second record may carry the same millisecond: it comes second.
        .sort(
          (a, b) =>
            a.at.localeCompare(b.at) ||
            Number(a.outcome === 'ticket_failed') - Number(b.outcome === 'ticket_failed'),
        );
    expect(of(requests.issued)).toEqual([
      expect.objectContaining({
        action: 'ticket',
        outcome: 'ticket_issued',
        callerKeyId: caller('tickets').keyId,
        callerName: 'Acme analytics',
        connection: 'astrato',
        email: 'grace@example.com',
        groupIds: ['sales'],
        groupNames: [],
        sourceIp: '203.0.113.17',
      }),
    ]);
    expect(of(requests.vended)).toEqual([
      expect.objectContaining({
        action: 'token',
        outcome: 'token_vended',
        connection: 'oms',
        callerName: 'OMS reader',
      }),
    ]);
    expect(of(requests.refused)).toEqual([
      expect.objectContaining({
        action: 'ticket',
        outcome: 'forbidden',
        email: 'eve@example.com',
        groupIds: ['admins'],
        detail: 'groupIds not allowed for this caller: "admins"',
      }),
    ]);
    expect(of(requests.status)).toEqual([
      expect.objectContaining({ action: 'status', outcome: 'forbidden', connection: 'astrato' }),
    ]);
    expect(of(requests.networkRefused)).toEqual([
      expect.objectContaining({
        outcome: 'forbidden',
        sourceIp: '203.0.113.17',
        callerName: 'Acme from its offices',
      }),
    ]);
    expect(of(requests.failed).map((record) => [record.outcome, record.error])).toEqual([
      ['ticket_issued', undefined],
      ['ticket_failed', 'upstream_rejected'],
    ]);
    // Each record under its own key, in the group index by its UTC day, kept a year.
    for (const item of await auditItems()) {
      expect(item.pk).toMatch(/^audit#[A-Za-z0-9_-]{22}$/);
      expect(item.gpk).toBe(`audit#${String(item.at).slice(0, 10)}`);
      expect(item.ttl).toBe(Math.ceil(Date.parse(String(item.at)) / 1000) + 365 * 86_400);
    }
  });

  it('a ticket id the broker refuses (502) is a failed ticket: ticket_failed follows ticket_issued', async () => {
    // The vendor answers an id that would climb out of the ticket path. Whichever check refuses it
    // (the Astrato client's, or the URL builder's behind it), it is refused inside the setup call.
    stack.astrato.faults.set('setup', { body: JSON.stringify({ ticket: '..' }), count: 1 });
    const refused = await call('tickets', { body: { email: 'dots@example.com', groupIds: ['sales'] } });
    stack.astrato.faults.clear();
    expect(refused.status).toBe(502);
    expect(refused.body).toMatchObject({ code: 'upstream_rejected' });
    const records = ((await auditItems()) as unknown as AuditRecord[]).filter(
      (record) => record.requestId === refused.requestId,
    );
    expect(records.map((record) => [record.outcome, record.error]).sort()).toEqual([
      ['ticket_failed', 'upstream_rejected'],
      ['ticket_issued', undefined],
    ]);
  });

  it('never holds a ticket, a token, a caller key or a secret (every record scanned)', async () => {
    const items = await auditItems();
    expect(items.length).toBeGreaterThanOrEqual(10);
    expect(produced.length).toBeGreaterThanOrEqual(10);
    const text = JSON.stringify(items);
    // A negative control: the scan sees what the records do hold.
    expect(text).toContain(caller('tickets').keyId);
    expect(produced.filter((value) => value.length >= 8 && text.includes(value))).toEqual([]);
    expect(text).not.toMatch(/tb_[A-Za-z0-9]{16}_/);
  });

  it('npm run callers -- audit reads them back: all, by caller, by email, as JSON or lines', async () => {
    const all = await callersCommand('audit', '--since', '1h', '--json');
    expect(all.code).toBe(0);
    const listed = JSON.parse(all.stdout) as AuditRecord[];
    expect(listed).toHaveLength((await auditItems()).length);
    expect(listed.map((record) => record.at)).toEqual([...listed.map((record) => record.at)].sort());
    expect(Object.keys(listed[0] ?? {})).not.toContain('pk');

    const byCaller = JSON.parse(
      (await callersCommand('audit', '--caller', caller('tokens').keyId, '--json')).stdout,
    ) as AuditRecord[];
    expect(byCaller.map((record) => record.outcome).sort()).toEqual(['forbidden', 'token_vended']);
    const byEmail = await callersCommand('audit', '--email', 'GRACE@example.com');
    expect(byEmail.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `ticket_issued  ticket  caller=${caller('tickets').keyId}  "Acme analytics"  from=203\\.0\\.113\\.17  connection=astrato  email=grace@example\\.com  groupIds=sales  request=${literal(requests.issued ?? '')}$`,
        ),
      ),
    ]);
    const none = await callersCommand('audit', '--email', 'nobody@example.com');
    expect(none.stdout.trim()).toBe('no audit records');
    const cut = await callersCommand('audit', '--limit', '2', '--json');
    expect(JSON.parse(cut.stdout)).toHaveLength(2);
    expect(cut.stderr).toContain('the first 2 records only');
    const bad = await callersCommand('audit', '--since', '15 minutes');
    expect(bad).toMatchObject({ code: 1 });
    expect(bad.stderr.trim()).toBe(
      'callers: --since must be whole hours or days, e.g. 24h or 90d (got "15 minutes")',
    );
  });

  it('npm run callers -- list shows when each key was last used, and which never was', async () => {
    const listed = JSON.parse((await callersCommand('list', '--json')).stdout) as {
      keyId: string;
      lastUsedAt: string | null;
      sourceCidrs: string[] | null;
    }[];
    const entry = (label: string) => listed.find((candidate) => candidate.keyId === caller(label).keyId);
    // Used by this file's requests: at or after its start, and not in the future.
    const listedAt = Date.now();
    for (const label of ['tickets', 'tokens', 'networked']) {
      const lastUsed = Date.parse(entry(label)?.lastUsedAt ?? '');
      expect(lastUsed).toBeGreaterThanOrEqual(fileStart);
      expect(lastUsed).toBeLessThanOrEqual(listedAt);
    }
    expect(entry('idle')?.lastUsedAt).toBeNull();
    // Refused for its source address only: audited, but no use of the key.
    expect(entry('fenced')?.lastUsedAt).toBeNull();
    expect(entry('networked')?.sourceCidrs).toEqual(['198.51.100.0/24', '2001:db8::/32']);
    const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: TABLE_NAME }));
    // One last-use item per used key: the writes are per key per few minutes, not per request.
    expect(Items.filter((item) => String(item.pk).startsWith('lastused#'))).toHaveLength(3);
  });
});
