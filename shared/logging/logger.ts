import { Logger } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
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
 * The options of the house logger, for Powertools' `Logger` or a subclass of it: the service name
 * and the redacting replacer. The one source of both, so that a logger that only prints its lines
 * differently (the local stack's, local/function-logs.ts) writes the same records.
 *
 * @returns Powertools' constructor options
 */
export function loggerOptions(options: CreateLoggerOptions = {}): ConstructorOptions {
  const sensitive = options.sensitive ?? new SensitiveValues();
  return {
    serviceName: options.serviceName ?? 'ticket-broker',
    jsonReplacerFn: sensitive.replacer,
    ...(options.persistentKeys ? { persistentKeys: options.persistentKeys } : {}),
  };
}

/**
 * The house logger: Powertools' structured JSON logger with the redacting replacer.
 * Level from `POWERTOOLS_LOG_LEVEL` (default INFO), as Powertools reads it.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  return new Logger(loggerOptions(options));
}
