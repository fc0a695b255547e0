import { createLogger } from '../../shared/logging/logger';
import { REDACTED, SensitiveValues } from '../../shared/logging/redaction';
import { OutputCapture } from '../support/log-capture';

describe('log redaction', () => {
  const sensitive = new SensitiveValues();

  it('masks values under secret-bearing keys, at any depth', () => {
    const text = JSON.stringify(
      {
        clientSecret: 's3cr3t-value',
        nested: {
          access_token: 'abc.def.ghi',
          Authorization: 'Bearer xyz',
          ticketId: 't-1',
          redeemUrl: 'https://x/ticket/t-2?embed',
        },
        tokenType: 'Bearer',
        connection: 'oms',
      },
      sensitive.replacer,
    );
    expect(text).not.toMatch(/s3cr3t-value|abc\.def\.ghi|xyz|t-1|t-2/);
    expect(JSON.parse(text)).toEqual({
      clientSecret: REDACTED,
      nested: { access_token: REDACTED, Authorization: REDACTED, ticketId: REDACTED, redeemUrl: REDACTED },
      tokenType: 'Bearer',
      connection: 'oms',
    });
  });

  it('masks a registered secret wherever it appears inside a string', () => {
    sensitive.register('registered-secret-value-123');
    expect(sensitive.scrub('upstream said: bad registered-secret-value-123!')).toBe(
      `upstream said: bad ${REDACTED}!`,
    );
  });

  it('masks bearer credentials and caller keys by their shape', () => {
    expect(sensitive.scrub('header was Bearer eyJhbGciOi.abc.def')).toBe(`header was Bearer ${REDACTED}`);
    expect(sensitive.scrub('key tb_AbC123_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG used')).toBe(
      `key ${REDACTED} used`,
    );
  });

  it('ignores values too short to be secrets', () => {
    sensitive.register('abc');
    expect(sensitive.scrub('abc')).toBe('abc');
  });

  it('the house logger applies it to real log lines', () => {
    const capture = new OutputCapture().start();
    try {
      const logger = createLogger({ serviceName: 'redaction-test', sensitive });
      sensitive.register('another-registered-secret-456');
      logger.warn('failed with another-registered-secret-456', {
        clientSecret: 'visible?',
        error: new Error('boom another-registered-secret-456'),
      });
    } finally {
      capture.stop();
    }
    const line = capture.lines().find((entry) => entry.service === 'redaction-test');
    expect(line).toBeDefined();
    const text = JSON.stringify(line);
    expect(text).not.toContain('another-registered-secret-456');
    expect(text).not.toContain('visible?');
    expect(line?.message).toBe(`failed with ${REDACTED}`);
  });
});
