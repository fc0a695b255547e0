import { API_ROUTES, routePattern } from '../../shared/http/routes';

/**
 * The route table is the API's one list of routes; each route's pattern (what the handler answers
 * 405 for under another method) comes from its path, never written by hand.
 */
describe('the route table', () => {
  it('holds each route once, with paths of plain segments and {name} parameters only', () => {
    const keys = API_ROUTES.map((route) => `${route.method} ${route.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(API_ROUTES.map((route) => route.handler)).size).toBe(API_ROUTES.length);
    for (const route of API_ROUTES) expect(route.path).toMatch(/^(\/([a-z0-9-]+|\{[a-z]+\}))+$/);
  });

  it('derives each pattern from its path: a parameter is one segment, a trailing slash is allowed', () => {
    const token = routePattern('/v1/connections/{id}/token');
    expect(
      ['/v1/connections/oms/token', '/v1/connections/oms/token/'].map((path) => token.test(path)),
    ).toEqual([true, true]);
    expect(
      [
        '/v1/connections//token',
        '/v1/connections/a/b/token',
        '/v1/connections/oms/token/x',
        '/x/v1/connections/oms/token',
      ].map((path) => token.test(path)),
    ).toEqual([false, false, false, false]);
    expect(routePattern('/v1/health').test('/v1/healthz')).toBe(false);
  });
});
