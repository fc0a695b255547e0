import { CallerAdminError, createCaller, describeCaller } from '../../shared/callers/admin';
import {
  authorizeTicket,
  authorizeTicketSubject,
  authorizeTokenVending,
  refuseDeniedEmail,
} from '../../shared/callers/authorization';
import type { Caller, CallerStore, ConnectionScope } from '../../shared/callers/caller';
import { constantTimeEqual, generateKey, hashSecret, parseKey } from '../../shared/callers/keys';
import { parseBrokerConfig } from '../../shared/config/schema';
import { ForbiddenError, InvalidRequestError, UnknownConnectionError } from '../../shared/errors';
import { MemoryCallerStore } from '../support/fakes';
import { legacyTicketsCaller } from '../support/table-ports-contract';

describe('caller keys', () => {
  it('a generated key parses back to its parts, and only its hash needs storing', () => {
    const key = generateKey();
    expect(key.key).toMatch(/^tb_[A-Za-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    expect(parseKey(key.key)).toEqual({ keyId: key.keyId, secret: key.secret });
    expect(key.secretHash).toBe(hashSecret(key.secret));
    expect(key.secretHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keys are distinct', () => {
    const keys = new Set(Array.from({ length: 200 }, () => generateKey().key));
    expect(keys.size).toBe(200);
  });

  it.each([
    'tb_',
    'tb_abc',
    'xx_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    'tb_short_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    'tb_AAAAAAAAAAAAAAAA_tooShort',
    'tb_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!',
    'tb_AAAA-AAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  ])('refuses the malformed key %s', (presented) => {
    expect(parseKey(presented)).toBeUndefined();
  });

  it('a secret containing "_" still parses (base64url)', () => {
    const secret = `${'_'.repeat(10)}${'a'.repeat(33)}`;
    expect(parseKey(`tb_ABCDEFGH12345678_${secret}`)).toEqual({ keyId: 'ABCDEFGH12345678', secret });
  });

  it('constantTimeEqual compares content of any length', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});

/** Two Astrato connections, a vendable OAuth 2.0 one and a hidden one. */
const config = parseBrokerConfig({
  connections: {
    astrato: { kind: 'astrato-oem', baseUrl: 'https://a.example', secretId: 's/a' },
    astrato2: { kind: 'astrato-oem', baseUrl: 'https://b.example', secretId: 's/b' },
    oms: {
      kind: 'oauth2-client-credentials',
      tokenUrl: 'https://kc.example/t',
      clientAuth: 'client_secret_post',
      secretId: 's/o',
      vendable: true,
    },
    hidden: {
      kind: 'oauth2-client-credentials',
      tokenUrl: 'https://kc.example/t',
      clientAuth: 'client_secret_post',
      secretId: 's/h',
    },
  },
});

describe('scope rules', () => {
  const scope = (overrides: Partial<ConnectionScope> = {}): ConnectionScope => ({
    tickets: true,
    tokens: false,
    allowedGroupIds: [],
    allowedGroupNames: [],
    allowedEmailDomains: [],
    ...overrides,
  });
  const caller = (scopes: Record<string, ConnectionScope>): Caller => ({ keyId: 'k', name: 'n', scopes });

  it('the connection may be left out when the caller is scoped to exactly one astrato-oem connection', () => {
    expect(
      authorizeTicket(
        caller({ astrato: scope(), oms: scope({ tickets: false }) }),
        config.connections,
        undefined,
      ).id,
    ).toBe('astrato');
    expect(() =>
      authorizeTicket(caller({ astrato: scope(), astrato2: scope() }), config.connections, undefined),
    ).toThrow(InvalidRequestError);
    expect(() => authorizeTicket(caller({ oms: scope() }), config.connections, undefined)).toThrow(
      ForbiddenError,
    );
  });

  it('refuses unknown connections and connections without tickets', () => {
    expect(() => authorizeTicket(caller({ astrato: scope() }), config.connections, 'nope')).toThrow(
      UnknownConnectionError,
    );
    expect(() => authorizeTicket(caller({ astrato: scope() }), config.connections, 'astrato2')).toThrow(
      ForbiddenError,
    );
    expect(() => authorizeTicket(caller({ astrato: scope() }), config.connections, '__proto__')).toThrow(
      UnknownConnectionError,
    );
  });

  const ids = (groupIds: string[]) => ({ groupIds, groupNames: [] });
  const names = (groupNames: string[]) => ({ groupIds: [], groupNames });
  const none = { groupIds: [], groupNames: [] };

  it('groups must be a subset; an empty allow-list allows none', () => {
    expect(() =>
      authorizeTicketSubject(scope({ allowedGroupIds: ['a', 'b'] }), 'x@y.z', ids(['a'])),
    ).not.toThrow();
    expect(() => authorizeTicketSubject(scope({ allowedGroupIds: ['a'] }), 'x@y.z', ids(['a', 'c']))).toThrow(
      'groupIds not allowed for this caller: "c"',
    );
    expect(() => authorizeTicketSubject(scope(), 'x@y.z', ids(['a']))).toThrow(ForbiddenError);
    expect(() => authorizeTicketSubject(scope(), 'x@y.z', none)).not.toThrow();
  });

  it('group names are checked apart from group ids, by exact match', () => {
    const both = scope({ allowedGroupIds: ['g-1'], allowedGroupNames: ['Sales EMEA'] });
    expect(() => authorizeTicketSubject(both, 'x@y.z', names(['Sales EMEA']))).not.toThrow();
    expect(() =>
      authorizeTicketSubject(both, 'x@y.z', { groupIds: ['g-1'], groupNames: ['Sales EMEA'] }),
    ).not.toThrow();
    // An allowed id is not an allowed name, and names match exactly (case, spaces).
    expect(() => authorizeTicketSubject(both, 'x@y.z', names(['g-1']))).toThrow(
      'groupNames not allowed for this caller: "g-1"',
    );
    for (const lookAlike of ['sales emea', 'Sales EMEA ', 'Sales  EMEA']) {
      expect(() => authorizeTicketSubject(both, 'x@y.z', names([lookAlike]))).toThrow(ForbiddenError);
    }
    expect(() => authorizeTicketSubject(scope({ allowedGroupIds: ['a'] }), 'x@y.z', names(['a']))).toThrow(
      ForbiddenError,
    );
  });

  it('email domains match exactly (a subdomain or a look-alike is refused)', () => {
    const domains = scope({ allowedEmailDomains: ['acme.com'] });
    expect(() => authorizeTicketSubject(domains, 'ada@acme.com', none)).not.toThrow();
    expect(() => authorizeTicketSubject(domains, 'ada@eu.acme.com', none)).toThrow(ForbiddenError);
    expect(() => authorizeTicketSubject(domains, 'ada@acme.com.evil.io', none)).toThrow(ForbiddenError);
    expect(() => authorizeTicketSubject(domains, 'acme.com@evil.io', none)).toThrow(ForbiddenError);
  });

  it('no domains: any email when decided or from before the decision; none when decided against', () => {
    expect(() => authorizeTicketSubject(scope({ anyEmail: true }), 'boss@anything.org', none)).not.toThrow();
    // A record from before the decision keeps its meaning (callers list marks it).
    expect(() => authorizeTicketSubject(scope(), 'boss@anything.org', none)).not.toThrow();
    expect(() => authorizeTicketSubject(scope({ anyEmail: false }), 'ada@acme.com', none)).toThrow(
      'this caller is allowed no email domain',
    );
  });

  it("denyEmails: exact addresses and @domain entries of the connection, whatever the caller's scope", () => {
    const guarded = parseBrokerConfig({
      connections: {
        a: {
          kind: 'astrato-oem',
          baseUrl: 'https://a.example',
          secretId: 's/a',
          denyEmails: ['Admin@Acme.com', '@Admins.Acme.com'],
        },
      },
    }).connections.a;
    if (guarded?.kind !== 'astrato-oem') throw new Error('unexpected');
    expect(guarded.denyEmails).toEqual(['admin@acme.com', '@admins.acme.com']);
    expect(() => refuseDeniedEmail(guarded, 'a', 'admin@acme.com')).toThrow(/denyEmails/);
    expect(() => refuseDeniedEmail(guarded, 'a', 'root@admins.acme.com')).toThrow(ForbiddenError);
    expect(() => refuseDeniedEmail(guarded, 'a', 'ada@acme.com')).not.toThrow();
    // A domain entry is that domain exactly, as allowedEmailDomains is.
    expect(() => refuseDeniedEmail(guarded, 'a', 'x@eu.admins.acme.com')).not.toThrow();
  });

  it('vends tokens only of vendable oauth2 connections, to callers with the tokens scope', () => {
    expect(() =>
      authorizeTokenVending(caller({ oms: scope({ tokens: true }) }), config.connections, 'oms'),
    ).not.toThrow();
    expect(() => authorizeTokenVending(caller({ oms: scope() }), config.connections, 'oms')).toThrow(
      /may not read tokens/,
    );
    expect(() =>
      authorizeTokenVending(caller({ hidden: scope({ tokens: true }) }), config.connections, 'hidden'),
    ).toThrow(/does not vend/);
    expect(() =>
      authorizeTokenVending(caller({ astrato: scope({ tokens: true }) }), config.connections, 'astrato'),
    ).toThrow(/never handed out/);
    expect(() => authorizeTokenVending(caller({}), config.connections, 'oms')).toThrow(/no access/);
  });
});

describe('createCaller: an email decision for every tickets scope', () => {
  const { connections } = config;
  const create = (store: CallerStore, input: Partial<Parameters<typeof createCaller>[1]>) =>
    createCaller(store, { name: 'n', connections: ['astrato'], ...input }, { connections, now: new Date(0) });

  it('tickets without email domains and without --any-email: refused, nothing stored', async () => {
    const store = new MemoryCallerStore();
    await expect(create(store, {})).rejects.toThrow(CallerAdminError);
    await expect(create(store, {})).rejects.toThrow(/need an email decision/);
    expect(store.records.size).toBe(0);
  });

  it('--any-email is recorded on the scope; domains record anyEmail false', async () => {
    const store = new MemoryCallerStore();
    const open = await create(store, { anyEmail: true });
    expect(open.record.scopes.astrato).toMatchObject({ allowedEmailDomains: [], anyEmail: true });
    expect(describeCaller(open.record).scopes.astrato?.emailRule).toBe('any-email');
    const bound = await create(store, { emailDomains: ['Acme.com'] });
    expect(bound.record.scopes.astrato).toMatchObject({ allowedEmailDomains: ['acme.com'], anyEmail: false });
    expect(describeCaller(bound.record).scopes.astrato?.emailRule).toBe('domains');
  });

  it('no decision is needed without tickets; --any-email without tickets or with domains is refused', async () => {
    const store = new MemoryCallerStore();
    await expect(create(store, { connections: ['oms'], tokens: true })).resolves.toBeDefined();
    await expect(create(store, { tickets: false })).resolves.toBeDefined();
    await expect(create(store, { connections: ['oms'], tokens: true, anyEmail: true })).rejects.toThrow(
      /applies to tickets/,
    );
    await expect(create(store, { anyEmail: true, emailDomains: ['acme.com'] })).rejects.toThrow(/contradict/);
  });

  it('a record from before the rule (no anyEmail) is described as open to any email, undecided', () => {
    const legacy = legacyTicketsCaller('LegacyCaller00001', 'legacy');
    expect(describeCaller(legacy).scopes.astrato?.emailRule).toBe('any-email-undecided');
  });
});
