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
  /**
   * Powertools' service name, one of {@link SERVICE_NAMES}: the `service` dimension of every metric
   * and a key of every log line.
   */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  /** CloudWatch namespace of the functions' metrics. @default METRICS_NAMESPACE */
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  /** Powertools log level: DEBUG, INFO, WARN or ERROR. */
  logLevel: 'POWERTOOLS_LOG_LEVEL',
  /**
   * Set by Lambda itself: the execution environment's log stream, which names this container in
   * the acquisition lease (it survives a runtime restart). Absent elsewhere.
   */
  logStream: 'AWS_LAMBDA_LOG_STREAM_NAME',
} as const;

/**
 * The two functions' service names, the one source of them: the CDK construct sets each as its
 * function's `POWERTOOLS_SERVICE_NAME`, the alarms and dashboard read metrics by it, `npm start`
 * sets it for its own two functions, and a function reads it back from its environment.
 */
export const SERVICE_NAMES = { issueTicket: 'issue-ticket', refreshTokens: 'refresh-tokens' } as const;

export type ServiceName = (typeof SERVICE_NAMES)[keyof typeof SERVICE_NAMES];

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
  /** The function's service name, for its logs and metrics. */
  readonly serviceName: string;
  /** On Lambda, the execution environment's log stream (the lease owner id). */
  readonly logStream?: string;
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
 * Read once at cold start: the configuration file named by `BROKER_CONFIG_FILE`, the table, the
 * service name, the metrics namespace and, on Lambda, the log stream. A function's one reading of
 * its environment: the handler passes `process.env`, `npm start` a record of its own per stack.
 * Fails naming the variable, the file or the bad configuration field.
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
  const logStream = env[ENV.logStream];
  return {
    config: parseBrokerConfigJson(text, path),
    tableName: requireEnv(ENV.table, env),
    serviceName: requireEnv(ENV.serviceName, env),
    metricsNamespace: env[ENV.metricsNamespace]?.trim() || METRICS_NAMESPACE,
    ...(logStream ? { logStream } : {}),
  };
}
