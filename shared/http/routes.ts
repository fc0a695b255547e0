/**
 * Who may call a route: anyone (`public`), or an authenticated caller whose key holds the scope on
 * the connection the request names: `tickets`, `tokens`, or either (docs/design.md "Callers").
 */
export type RouteScope = 'public' | 'tickets' | 'tokens' | 'tickets or tokens';

/** One route of the broker's HTTP API. */
export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** The path as API Gateway routes it: literal segments and `{name}` parameters. */
  readonly path: string;
  readonly scope: RouteScope;
  /**
   * The handler that serves it in shared/http/api.ts, which is also the operation's `operationId`
   * in docs/openapi.yaml.
   */
  readonly handler: string;
}

/**
 * The routes of docs/design.md "HTTP API (v1)", written once: the API handler serves them
 * (shared/http/api.ts), the stack gives each an API Gateway route (infra/stateless-stack.ts), and
 * the OpenAPI contract test holds docs/openapi.yaml to them.
 */
export const API_ROUTES = [
  { method: 'POST', path: '/v1/tickets', scope: 'tickets', handler: 'issueTicket' },
  { method: 'POST', path: '/v1/connections/{id}/token', scope: 'tokens', handler: 'vendToken' },
  {
    method: 'GET',
    path: '/v1/connections/{id}/status',
    scope: 'tickets or tokens',
    handler: 'connectionStatus',
  },
  { method: 'GET', path: '/v1/health', scope: 'public', handler: 'health' },
] as const satisfies readonly ApiRoute[];

export type Route = (typeof API_ROUTES)[number];

/**
 * What a request path must match to be on a route's path: each `{name}` one segment that is not
 * empty, every other segment as written, and a trailing slash allowed. Route paths hold only
 * lower-case letters, digits, `-`, `/` and `{name}` (test/unit/routes.test.ts), so no character of
 * theirs means anything else in a regular expression.
 * @example routePattern('/v1/connections/{id}/token').test('/v1/connections/oms/token') // true
 */
export function routePattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}/?$`);
}
