import { readFileSync } from 'node:fs';
import { type BrokerConfig, parseBrokerConfigJson } from '../shared/config/schema';

/** Where the CDK app reads its configuration unless told otherwise with `-c config=<path>`. */
export const DEFAULT_CONFIG_PATH = 'config/connections.json';

/** The configuration file cannot be read (missing, a directory, no permission). */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
}

/**
 * Reads and validates the broker configuration with the schema the functions use
 * (shared/config/schema.ts), so a file the functions would refuse never reaches a deployment.
 * @throws ConfigFileError when the file cannot be read
 * @throws ConfigValidationError naming every bad field (and the file)
 */
export function loadBrokerConfigFile(path: string): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigFileError(`cannot read the configuration file ${path} (${code})`, { cause: error });
  }
  return parseBrokerConfigJson(text, path);
}
