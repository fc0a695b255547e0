import { ConfigValidationError, parseBrokerConfig, parseBrokerConfigJson } from '../../shared/config/schema';

const valid = {
  connections: {
    astrato: { kind: 'astrato-oem', baseUrl: 'https://app.astrato.io/', secretId: 'ticket-broker/astrato' },
    oms: {
      kind: 'oauth2-client-credentials',
      tokenUrl: 'https://connect.astoresuite.com/auth/realms/astore-p2p/protocol/openid-connect/token',
      clientAuth: 'client_secret_post',
      secretId: 'ticket-broker/oms',
      probeUrl: 'https://oms-api-in01.astoreshop.com/oms-api/',
      vendable: true,
    },
  },
};

function issuesOf(document: unknown): readonly string[] {
  try {
    parseBrokerConfig(document, 'test');
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration schema', () => {
  it('accepts the docs/design.md example and applies defaults', () => {
    const config = parseBrokerConfig(valid);
    expect(config.refresh).toEqual({ hardSkewSeconds: 30, minWindowSeconds: 120, concurrency: 8 });
    const astrato = config.connections.astrato;
    expect(astrato?.kind === 'astrato-oem' && astrato.baseUrl).toBe('https://app.astrato.io');
    expect(astrato?.kind === 'astrato-oem' && astrato.embedUrlTemplate).toBe(
      '{baseUrl}/auth/proxy/oem/ticket/{ticketId}/embed',
    );
    expect(astrato?.kind === 'astrato-oem' && astrato.redeemUrlTemplate).toBe(
      '{baseUrl}/auth/proxy/oem/ticket/{ticketId}?embed',
    );
    expect(astrato?.kind === 'astrato-oem' && astrato.signOutUrl).toBe('{baseUrl}/auth/proxy/0/sign_out');
    // Safe by default: a ticket without groups would create a user without permissions.
    expect(astrato?.kind === 'astrato-oem' && astrato.requireGroup).toBe(true);
    expect(astrato?.kind === 'astrato-oem' && astrato.denyEmails).toEqual([]);
    expect(
      config.connections.oms?.kind === 'oauth2-client-credentials' && config.connections.oms.vendable,
    ).toBe(true);
  });

  it('bounds how long a cached caller serves in a DynamoDB outage: 300 s by default, configurable up to 900 s', () => {
    expect(parseBrokerConfig(valid).callers).toEqual({ maxStaleSeconds: 300 });
    expect(parseBrokerConfig({ ...valid, callers: { maxStaleSeconds: 60 } }).callers).toEqual({
      maxStaleSeconds: 60,
    });
    expect(issuesOf({ ...valid, callers: { maxStaleSeconds: 3600 } })).toEqual([
      expect.stringMatching(/^callers\.maxStaleSeconds: /),
    ]);
    expect(issuesOf({ ...valid, callers: { maxStaleSeconds: -1 } })).toEqual([
      expect.stringMatching(/^callers\.maxStaleSeconds: /),
    ]);
    expect(issuesOf({ ...valid, callers: { cacheSeconds: 1 } })).toEqual([
      expect.stringMatching(/^callers: .*cacheSeconds/),
    ]);
  });

  it("bounds the refresher's fan-out: 8 connections at once by default, 1 to 64", () => {
    expect(parseBrokerConfig({ ...valid, refresh: { minWindowSeconds: 60 } }).refresh).toEqual({
      hardSkewSeconds: 30,
      minWindowSeconds: 60,
      concurrency: 8,
    });
    expect(parseBrokerConfig({ ...valid, refresh: { concurrency: 64 } }).refresh.concurrency).toBe(64);
    expect(parseBrokerConfig({ ...valid, refresh: { concurrency: 1 } }).refresh.concurrency).toBe(1);
    for (const concurrency of [0, 65, 2.5, '8'])
      expect(issuesOf({ ...valid, refresh: { concurrency } })).toEqual([
        expect.stringMatching(/^refresh\.concurrency: /),
      ]);
  });

  it('allows plain http on loopback only', () => {
    const local = { connections: { a: { ...valid.connections.astrato, baseUrl: 'http://127.0.0.1:4010' } } };
    expect(() => parseBrokerConfig(local)).not.toThrow();
    const remote = { connections: { a: { ...valid.connections.astrato, baseUrl: 'http://app.astrato.io' } } };
    expect(issuesOf(remote)).toEqual([
      'connections.a.baseUrl: must use https (plain http is allowed on 127.0.0.1/localhost only)',
    ]);
  });

  it('names each bad field', () => {
    const issues = issuesOf({
      connections: {
        oms: { ...valid.connections.oms, clientAuth: 'both', tokenUrl: 'not a url' },
        Bad_Id: valid.connections.astrato,
      },
      refresh: { hardSkewSeconds: -1 },
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^connections\.oms\.clientAuth: /),
        'connections.oms.tokenUrl: must be an absolute URL',
        expect.stringMatching(/^connections\.Bad_Id: .*lower case/),
        expect.stringMatching(/^refresh\.hardSkewSeconds: /),
      ]),
    );
  });

  it('refuses unknown fields (a typo is not silently ignored)', () => {
    expect(issuesOf({ connections: { oms: { ...valid.connections.oms, vendible: true } } })).toEqual([
      expect.stringMatching(/^connections\.oms: .*vendible/),
    ]);
  });

  it('refuses an empty connection list, an unknown kind and a template without {ticketId}', () => {
    expect(issuesOf({ connections: {} })).toEqual(['connections: at least one connection is required']);
    expect(issuesOf({ connections: { x: { kind: 'saml', secretId: 'x' } } })[0]).toMatch(
      /^connections\.x\.kind: /,
    );
    expect(
      issuesOf({ connections: { a: { ...valid.connections.astrato, embedUrlTemplate: '{baseUrl}/embed' } } }),
    ).toEqual(['connections.a.embedUrlTemplate: must contain {ticketId}']);
  });

  it('checks the redemption and sign-out URLs: {ticketId} where needed, absolute https once filled', () => {
    const astrato = valid.connections.astrato;
    expect(
      issuesOf({ connections: { a: { ...astrato, redeemUrlTemplate: '{baseUrl}/auth/proxy/oem/ticket' } } }),
    ).toEqual(['connections.a.redeemUrlTemplate: must contain {ticketId}']);
    expect(
      issuesOf({ connections: { a: { ...astrato, signOutUrl: '{baseUrl}/sign_out/{ticketId}' } } }),
    ).toEqual(['connections.a.signOutUrl: must not contain {ticketId}']);
    expect(
      issuesOf({
        connections: {
          a: { ...astrato, signOutUrl: 'http://app.astrato.io/auth/proxy/0/sign_out', requireGroup: 'yes' },
        },
      }),
    ).toEqual(expect.arrayContaining([expect.stringMatching(/^connections\.a\.requireGroup: /)]));
    expect(
      issuesOf({
        connections: {
          a: { ...astrato, denyEmails: ['admin@acme.com', 'acme.com', '@', 'a@b@c', '@-x.com'] },
        },
      }),
    ).toEqual([
      'connections.a.denyEmails.1: must be an email address or @domain',
      'connections.a.denyEmails.2: must be an email address or @domain',
      'connections.a.denyEmails.3: must be an email address or @domain',
      'connections.a.denyEmails.4: must be an email address or @domain',
    ]);
    expect(
      issuesOf({
        connections: { a: { ...astrato, signOutUrl: 'http://app.astrato.io/auth/proxy/0/sign_out' } },
      }),
    ).toEqual(['connections.a.signOutUrl: must give an absolute https URL once {baseUrl} is filled in']);
    expect(
      issuesOf({
        connections: { a: { ...astrato, redeemUrlTemplate: '/auth/proxy/oem/ticket/{ticketId}?embed' } },
      }),
    ).toEqual([
      'connections.a.redeemUrlTemplate: must give an absolute https URL once {baseUrl} is filled in',
    ]);
  });

  it('reports bad JSON as such', () => {
    expect(() => parseBrokerConfigJson('{"connections":', 'config/connections.json')).toThrow(
      /invalid configuration \(config\/connections\.json\): not valid JSON/,
    );
  });
});
