import type { Logger } from '@aws-lambda-powertools/logger';
import { createLogger } from '../shared/logging/logger';
import type { SensitiveValues } from '../shared/logging/redaction';

/**
 * How `npm start` logs what its functions log: the one place the local stack decides it, so that
 * another presentation (a short line per request, say) replaces only this. Today it is the house
 * logger, exactly as on Lambda: Powertools' JSON lines with the redacting replacer.
 *
 * @param sensitive the function's registry of secret values, which its token engine fills in
 */
export function localFunctionLogger(serviceName: string, sensitive: SensitiveValues): Logger {
  return createLogger({ serviceName, sensitive });
}
