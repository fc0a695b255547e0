import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { type BrokerConfig, parseBrokerConfigJson } from '../config/schema';
import { METRICS_NAMESPACE } from '../logging/telemetry';

/**
 * The functions' environment variables: the one table of their names, read here and set by the CDK
 * construct (infra/constructs/broker-function.ts) and by `npm start`.
 */
export const ENV = {
  /**
   * Path of the validated configuration document (JSON, non-secret; docs/design.md
   * "Configuration"). Deployed, it is a file shipped in the function's code asset and the path is
   * relative to the code's directory (`LAMBDA_TASK_ROOT`); locally, any path.
   */
  configFile: 'BROKER_CONFIG_FILE',
  /** The DynamoDB table. */
  table: 'TABLE_NAME',
  /** Powertools' service name: the `service` dimension of every metric and a key of every log line. */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  /** CloudWatch namespace of the functions' metrics. @default METRICS_NAMESPACE */
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  /** Powertools log level: DEBUG, INFO, WARN or ERROR. */
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;

/** Name of the configuration file inside a deployed function's code (beside `index.js`). */
export const CONFIG_FILE_NAME = 'broker-config.json';

export class EnvironmentError extends Error {
  override readonly name = 'EnvironmentError';
}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '')
    throw new EnvironmentError(`environment variable ${name} is required`);
  return value;
}

export interface RuntimeEnvironment {
  readonly config: BrokerConfig;
  readonly tableName: string;
  readonly metricsNamespace: string;
}

/**
 * Where the configuration file is: `BROKER_CONFIG_FILE` as given when absolute, else relative to
 * the function's code directory on Lambda (`LAMBDA_TASK_ROOT`) or to the working directory.
 */
export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const path = requireEnv(ENV.configFile, env);
  return isAbsolute(path) ? path : resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), path);
}

/**
 * Read once at cold start: the configuration file named by `BROKER_CONFIG_FILE`, the table and the
 * metrics namespace. Fails naming the variable, the file or the bad configuration field.
 * @throws EnvironmentError when a variable is missing or the file cannot be read
 * @throws ConfigValidationError naming each bad field of the file
 */
export function readRuntimeEnvironment(env: NodeJS.ProcessEnv = process.env): RuntimeEnvironment {
  const path = configFilePath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new EnvironmentError(`${ENV.configFile}: cannot read the configuration file ${path} (${code})`, {
      cause: error,
    });
  }
  return {
    config: parseBrokerConfigJson(text, path),
    tableName: requireEnv(ENV.table, env),
    metricsNamespace: env[ENV.metricsNamespace]?.trim() || METRICS_NAMESPACE,
  };
}
