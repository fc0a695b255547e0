import {
  authorizeTicket,
  authorizeTicketSubject,
  authorizeTokenVending,
} from '../../shared/callers/authorization';
import type { Caller, ConnectionScope } from '../../shared/callers/caller';
import { constantTimeEqual, generateKey, hashSecret, parseKey } from '../../shared/callers/keys';
import { parseBrokerConfig } from '../../shared/config/schema';
import { ForbiddenError, InvalidRequestError, UnknownConnectionError } from '../../shared/errors';

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

describe('scope rules', () => {
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
