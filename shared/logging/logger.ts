import { Logger } from '@aws-lambda-powertools/logger';
import { SensitiveValues } from './redaction';

export interface CreateLoggerOptions {
  readonly serviceName?: string;
  readonly persistentKeys?: Record<string, string>;
  /**
   * The registry whose values this logger masks; pass the one the token engine and the secret
   * store register into. @default a registry of its own (only shape-based masking applies then)
   */
  readonly sensitive?: SensitiveValues;
}

/**
 * The house logger: Powertools' structured JSON logger with the redacting replacer.
 * Level from `POWERTOOLS_LOG_LEVEL` (default INFO), as Powertools reads it.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const sensitive = options.sensitive ?? new SensitiveValues();
  return new Logger({
    serviceName: options.serviceName ?? 'ticket-broker',
    jsonReplacerFn: sensitive.replacer,
    ...(options.persistentKeys ? { persistentKeys: options.persistentKeys } : {}),
  });
}
