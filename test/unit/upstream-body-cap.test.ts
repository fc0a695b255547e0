import { UpstreamRejectedError, UpstreamUnavailableError } from '../../shared/errors';
import { upstreamFetch } from '../../shared/upstream/http';
import { ManualClock } from '../support/fakes';

/**
 * The 64 KiB cap also holds for an injected `fetch` (the real transport is covered over sockets in
 * test/integration/hostile-upstreams.test.ts): the body stream is read up to the cap, then cancelled.
 */
function endless(): { stream: ReadableStream<Uint8Array>; pulled: () => number; cancelled: () => boolean } {
  let pulls = 0;
  let cancelled = false;
  const chunk = new Uint8Array(16 * 1024).fill(0x20);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      controller.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, pulled: () => pulls, cancelled: () => cancelled };
}

const call = (fetch: () => Promise<Response>, lines: unknown[] = []) =>
  upstreamFetch(
    'https://upstream.example/token',
    { method: 'POST' },
    {
      what: 'token endpoint (client_credentials)',
      timeoutMs: 5000,
      clock: new ManualClock(),
      fetch,
      log: { debug() {}, info() {}, warn() {}, error: (...line: unknown[]) => lines.push(line) },
    },
  );

describe('upstream body cap with an injected fetch', () => {
  it('stops reading an endless body just past 64 KiB, cancels it, and refuses it as upstream_rejected', async () => {
    const body = endless();
    const lines: unknown[] = [];
    const error = await call(async () => new Response(body.stream, { status: 200 }), lines).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(body.cancelled()).toBe(true);
    expect(body.pulled()).toBeLessThanOrEqual(6); // 5 chunks of 16 KiB pass the cap, plus read-ahead
    expect(lines).toEqual([
      [
        'upstream answer too large: refused',
        expect.objectContaining({
          endpoint: 'token endpoint (client_credentials)',
          host: 'upstream.example',
          bytesRead: 5 * 16 * 1024,
          limitBytes: 65_536,
        }),
      ],
    ]);
  });

  it('refuses an announced 50 MB body without reading it; a 5xx stays retryable', async () => {
    const body = endless();
    const big = { 'content-length': String(50 * 1024 * 1024) };
    await expect(
      call(async () => new Response(body.stream, { status: 200, headers: big })),
    ).rejects.toBeInstanceOf(UpstreamRejectedError);
    expect(body.pulled()).toBeLessThanOrEqual(1); // at most the stream's own first pull
    await expect(
      call(async () => new Response(endless().stream, { status: 503, headers: big })),
    ).rejects.toBeInstanceOf(UpstreamUnavailableError);
  });

  it('passes a body under the cap through unchanged', async () => {
    const response = await call(async () => new Response('{"access_token":"x"}', { status: 200 }));
    expect(await response.json()).toEqual({ access_token: 'x' });
  });
});
