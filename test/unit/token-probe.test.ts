import { parseBrokerConfig } from '../../shared/config/schema';
import { silentLog } from '../../shared/logging/ports';
import { tokenProbes } from '../../shared/upstream/probe';
import { startBlackHole } from '../support/black-hole';
import { ManualClock } from '../support/fakes';

describe('token probe', () => {
  it("waits for its answer as long as the connection's timeoutMs, not a fixed time of its own", async () => {
    const hole = await startBlackHole();
    try {
      const config = parseBrokerConfig({
        connections: {
          oms: {
            kind: 'oauth2-client-credentials',
            tokenUrl: 'http://127.0.0.1:9/token',
            clientAuth: 'client_secret_post',
            secretId: 'ticket-broker/oms',
            probeUrl: `${hole.url}/oms-api/`,
            timeoutMs: 150,
          },
        },
      });
      const clock = new ManualClock();
      const probe = tokenProbes(config.connections, { clock, log: silentLog }).oms;
      // The refresh's deadline is far off: only the connection's timeout can end the wait.
      const answer = await probe?.check('oms', 'access-token', clock.now() + 60_000);
      expect(answer).toMatchObject({
        ok: false,
        diagnosis: {
          error: { name: 'UpstreamUnavailableError', message: 'probe of oms: no answer within 150 ms' },
        },
      });
      expect(hole.requests()).toBe(1);
    } finally {
      await hole.stop();
    }
  });
});
