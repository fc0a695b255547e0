import { type BrokerConfig, parseBrokerConfigJson } from '../config/schema';

/** Environment variables the functions read (set by the CDK app, or by `npm start`). */
export const ENV = {
  /** The validated configuration document as JSON (non-secret; docs/design.md "Configuration"). */
  config: 'BROKER_CONFIG',
  /** The DynamoDB table. */
  table: 'TABLE_NAME',
} as const;

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
}

/** Read once at cold start; fails naming the variable or the bad configuration field. */
export function readRuntimeEnvironment(env: NodeJS.ProcessEnv = process.env): RuntimeEnvironment {
  return {
    config: parseBrokerConfigJson(requireEnv(ENV.config, env), ENV.config),
    tableName: requireEnv(ENV.table, env),
  };
}
