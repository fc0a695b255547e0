import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import {
  ConfigurationError,
  ForbiddenError,
  InternalError,
  InvalidClientError,
  InvalidGrantError,
  InvalidRequestError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  StoreUnavailableError,
  UnauthorizedError,
  UnknownConnectionError,
  UnsupportedMediaTypeError,
  UpstreamRejectedError,
  UpstreamTokenRejectedError,
  UpstreamUnavailableError,
} from '../../shared/errors';
import { PROBLEM_CODES, PROBLEM_TYPE, problemFor, problemResponse } from '../../shared/http/problem';

/** Every domain error, the public code and status it must map to (docs/design.md "HTTP API (v1)"). */
const CASES = [
  [new InvalidRequestError('bad'), 'invalid_request', 400],
  [new RouteNotFoundError('no route'), 'invalid_request', 404],
  [new MethodNotAllowedError('no method', ['GET']), 'invalid_request', 405],
  [new UnsupportedMediaTypeError('not json'), 'invalid_request', 415],
  [new UnauthorizedError('who'), 'unauthorized', 401],
  [new ForbiddenError('no'), 'forbidden', 403],
  [new UnknownConnectionError('x'), 'unknown_connection', 404],
  [new PayloadTooLargeError('big'), 'payload_too_large', 413],
  [new UpstreamRejectedError('refused'), 'upstream_rejected', 502],
  [new UpstreamTokenRejectedError('401'), 'upstream_rejected', 502],
  [new InvalidClientError('invalid_client'), 'upstream_rejected', 502],
  [new InvalidGrantError('invalid_grant'), 'upstream_rejected', 502],
  [new UpstreamUnavailableError('down'), 'upstream_unavailable', 503],
  [new UpstreamUnavailableError('slow', { timeout: true }), 'upstream_unavailable', 504],
  [new StoreUnavailableError('table down'), 'upstream_unavailable', 503],
  [new ConfigurationError('secret'), 'misconfigured', 500],
  [new InternalError('bug'), 'internal', 500],
  [new Error('raw'), 'internal', 500],
] as const;

describe('the one error map', () => {
  it.each(CASES)('%s → %s %d', (error, code, status) => {
    expect(problemFor(error)).toMatchObject({ code, status });
  });

  it('keeps the finer upstream codes apart for logs, folded into one public code', () => {
    const internal = [
      new InvalidClientError('a'),
      new InvalidGrantError('b'),
      new UpstreamTokenRejectedError('c'),
    ];
    expect(internal.map((error) => error.code)).toEqual([
      'invalid_client',
      'invalid_grant',
      'token_rejected',
    ]);
    expect(new Set(internal.map((error) => problemFor(error).code))).toEqual(new Set(['upstream_rejected']));
  });

  it('every public code is reachable, and only those are listed', () => {
    expect(new Set(CASES.map(([, code]) => code))).toEqual(new Set(PROBLEM_CODES));
  });

  it('below 500 says what is wrong; at 500 and above only a fixed sentence', () => {
    expect(problemFor(new ForbiddenError('group "admins" not allowed')).detail).toBe(
      'group "admins" not allowed',
    );
    expect(problemFor(new InternalError('stack: at secret-place')).detail).not.toContain('secret-place');
    expect(problemFor(new UpstreamRejectedError('upstream said tb_x')).detail).not.toContain('tb_x');
    // A table outage names the broker's storage, not the partner.
    expect(problemFor(new StoreUnavailableError('table down')).detail).toMatch(/broker's storage/);
    expect(problemFor(new UpstreamUnavailableError('partner down')).detail).toMatch(/partner service/);
  });

  it('a wrong method carries Allow; an upstream wait carries Retry-After', () => {
    expect(problemResponse(new MethodNotAllowedError('no', ['GET', 'POST']), 'r').headers).toMatchObject({
      allow: 'GET, POST',
    });
    const busy = new UpstreamUnavailableError('busy', { retryAfterMs: 1500 });
    expect(problemResponse(busy, 'r').headers).toMatchObject({ 'retry-after': '2' });
  });
});

describe('problem types', () => {
  it('every problem type is about:blank, titled with the reason phrase (RFC 9457 4.2.1)', () => {
    for (const [error, , status] of CASES) {
      const body = JSON.parse(String(problemResponse(error, 'req-1').body)) as Record<string, unknown>;
      expect(body).toMatchObject({ type: PROBLEM_TYPE, title: STATUS_CODES[status], status });
    }
    expect(new URL(PROBLEM_TYPE).protocol).toBe('about:');
  });

  it('no document points callers at a problem URI on a domain the project does not own', () => {
    for (const file of ['docs/openapi.yaml', 'README.md', 'docs/design.md']) {
      const text = readFileSync(file, 'utf8');
      expect({ file, uris: text.match(/https?:\/\/[^\s)"'`]*problems?\b[^\s)"'`]*/g) ?? [] }).toEqual({
        file,
        uris: [],
      });
    }
  });
});
