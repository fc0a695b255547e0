import { Logger } from '@aws-lambda-powertools/logger';
import { redactingReplacer } from './redaction';

export interface CreateLoggerOptions {
  readonly serviceName?: string;
  readonly persistentKeys?: Record<string, string>;
}

/**
 * The house logger: Powertools' structured JSON logger with the redacting replacer.
 * Level from `POWERTOOLS_LOG_LEVEL` (default INFO), as Powertools reads it.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  return new Logger({
    serviceName: options.serviceName ?? 'ticket-broker',
    jsonReplacerFn: redactingReplacer,
    ...(options.persistentKeys ? { persistentKeys: options.persistentKeys } : {}),
  });
}
