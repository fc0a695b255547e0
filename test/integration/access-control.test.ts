import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { type ApiHandler, addCaller, bearer, invoke, loadApiHandler } from '../support/api-harness';
import { noDeadline } from '../support/fakes';
import { OutputCapture } from '../support/log-capture';
import { TABLE_NAME, TestStack } from '../support/stack';

/**
 * Every scope rule of docs/design.md "Callers", tried from every kind of caller: the whole matrix of
 * outcomes is compared at once, so a rule that loosens anywhere shows up as a changed cell.
 */
const output = new OutputCapture();
let stack: TestStack;
let handler: ApiHandler;
const keys: Record<string, string> = {};

const CALLERS = {
  ticketsGroups: {
    name: 'tickets, groups sales',
    connections: ['astrato'],
    anyEmail: true,
    groupIds: ['sales'],
  },
  ticketsDomain: { name: 'tickets, domain acme.com', connections: ['astrato'], emailDomains: ['acme.com'] },
  omsTokens: { name: 'oms tokens', connections: ['oms'], tokens: true },
  omsNoTokens: { name: 'oms, no tokens', connections: ['oms'] },
  astratoTokens: { name: 'astrato with tokens flag', connections: ['astrato'], anyEmail: true, tokens: true },
  noTickets: { name: 'astrato without tickets', connections: ['astrato'], tickets: false },
  ticketsGroupNames: {
    name: 'tickets, group names',
    connections: ['astrato'],
    anyEmail: true,
    groupNames: ['Sales EMEA'],
  },
  requireGroup: {
    name: 'tickets on a requireGroup connection',
    connections: ['strict'],
    anyEmail: true,
    groupIds: ['sales'],
    groupNames: ['Sales EMEA'],
  },
  disabled: {
    name: 'disabled',
    connections: ['astrato', 'oms'],
    anyEmail: true,
    tokens: true,
    groupIds: ['sales'],
  },
} as const;

type Operation = { method: string; path: string; body?: unknown };
const OPERATIONS: Record<string, Operation> = {
  'ticket, no groups': { method: 'POST', path: '/v1/tickets', body: { email: 'a@acme.com' } },
  'ticket, group sales': {
    method: 'POST',
    path: '/v1/tickets',
    body: { email: 'a@acme.com', groupIds: ['sales'] },
  },
  'ticket, group admins': {
    method: 'POST',
    path: '/v1/tickets',
    body: { email: 'a@acme.com', groupIds: ['admins'] },
  },
  'ticket, group name Sales EMEA': {
    method: 'POST',
    path: '/v1/tickets',
    body: { email: 'a@acme.com', groupNames: ['Sales EMEA'] },
  },
  'ticket, group name sales': {
    method: 'POST',
    path: '/v1/tickets',
    body: { email: 'a@acme.com', groupNames: ['sales'] },
  },
  'ticket, other domain': { method: 'POST', path: '/v1/tickets', body: { email: 'a@other.org' } },
  'ticket on oms': { method: 'POST', path: '/v1/tickets', body: { connection: 'oms', email: 'a@acme.com' } },
  'vend oms': { method: 'POST', path: '/v1/connections/oms/token' },
  'vend astrato': { method: 'POST', path: '/v1/connections/astrato/token' },
  'status oms': { method: 'GET', path: '/v1/connections/oms/status' },
  'status astrato': { method: 'GET', path: '/v1/connections/astrato/status' },
};

/** docs/design.md's rules, written out: the status each caller must get for each operation. */
const EXPECTED: Record<keyof typeof CALLERS, Record<string, number>> = {
  ticketsGroups: {
    'ticket, no groups': 201,
    'ticket, group sales': 201,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 403,
    'ticket, group name sales': 403,
    'ticket, other domain': 201,
    'ticket on oms': 403,
    'vend oms': 403,
    'vend astrato': 403,
    'status oms': 403,
    'status astrato': 200,
  },
  ticketsDomain: {
    'ticket, no groups': 201,
    'ticket, group sales': 403,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 403,
    'ticket, group name sales': 403,
    'ticket, other domain': 403,
    'ticket on oms': 403,
    'vend oms': 403,
    'vend astrato': 403,
    'status oms': 403,
    'status astrato': 200,
  },
  omsTokens: {
    'ticket, no groups': 403,
    'ticket, group sales': 403,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 403,
    'ticket, group name sales': 403,
    'ticket, other domain': 403,
    'ticket on oms': 403,
    'vend oms': 200,
    'vend astrato': 403,
    'status oms': 200,
    'status astrato': 403,
  },
  omsNoTokens: {
    'ticket, no groups': 403,
    'ticket, group sales': 403,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 403,
    'ticket, group name sales': 403,
    'ticket, other domain': 403,
    'ticket on oms': 403,
    'vend oms': 403,
    'vend astrato': 403,
    'status oms': 403,
    'status astrato': 403,
  },
  astratoTokens: {
    'ticket, no groups': 201,
    'ticket, group sales': 403,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 403,
    'ticket, group name sales': 403,
    'ticket, other domain': 201,
    'ticket on oms': 403,
    'vend oms': 403,
    'vend astrato': 403,
    'status oms': 403,
    'status astrato': 200,
  },
  noTickets: {
    'ticket, no groups': 403,
    'ticket, group sales': 403,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 403,
    'ticket, group name sales': 403,
    'ticket, other domain': 403,
    'ticket on oms': 403,
    'vend oms': 403,
    'vend astrato': 403,
    'status oms': 403,
    'status astrato': 403,
  },
  ticketsGroupNames: {
    'ticket, no groups': 201,
    'ticket, group sales': 403,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 201,
    'ticket, group name sales': 403,
    'ticket, other domain': 201,
    'ticket on oms': 403,
    'vend oms': 403,
    'vend astrato': 403,
    'status oms': 403,
    'status astrato': 200,
  },
  requireGroup: {
    'ticket, no groups': 400,
    'ticket, group sales': 201,
    'ticket, group admins': 403,
    'ticket, group name Sales EMEA': 201,
    'ticket, group name sales': 403,
    'ticket, other domain': 400,
    'ticket on oms': 403,
    'vend oms': 403,
    'vend astrato': 403,
    'status oms': 403,
    'status astrato': 403,
  },
  disabled: Object.fromEntries(Object.keys(OPERATIONS).map((operation) => [operation, 401])),
};

beforeAll(async () => {
  output.start();
  stack = await TestStack.start({ extraAstratoConnections: { strict: { requireGroup: true } } });
  handler = await loadApiHandler(stack);
  for (const [label, input] of Object.entries(CALLERS)) keys[label] = (await addCaller(stack, input)).key;
  const disabledId = /^tb_([A-Za-z0-9]+)_/.exec(keys.disabled ?? '')?.[1] ?? '';
  await new DynamoCallerStore({ client: stack.documentClient(), tableName: TABLE_NAME }).disable(
    disabledId,
    'now',
    noDeadline,
  );
});

afterAll(async () => {
  output.stop();
  await stack?.stop();
});

describe('access control matrix', () => {
  it('every caller gets exactly what docs/design.md allows, and refusals never reach upstream', async () => {
    const actual: Record<string, Record<string, number>> = {};
    let refusalsThatReachedUpstream = 0;
    for (const label of Object.keys(CALLERS)) {
      actual[label] = {};
      for (const [name, operation] of Object.entries(OPERATIONS)) {
        const before =
          stack.astrato.counts().setup + stack.keycloak.counts().token + stack.astrato.counts().token;
        const response = await invoke(handler, { ...operation, headers: bearer(keys[label] ?? '') });
        const after =
          stack.astrato.counts().setup + stack.keycloak.counts().token + stack.astrato.counts().token;
        (actual[label] as Record<string, number>)[name] = response.status;
        if (response.status >= 400 && after !== before) refusalsThatReachedUpstream++;
        if (response.status >= 400) expect(response.headers['content-type']).toBe('application/problem+json');
      }
    }
    expect(actual).toEqual(EXPECTED);
    expect(refusalsThatReachedUpstream).toBe(0);
  });
});
