import { readFileSync } from 'node:fs';
import type { BrokerStacksOptions } from './broker-app';
import { DEFAULT_CONFIG_PATH } from './config-file';
import { InvalidPropsError } from './errors';
import { DEFAULT_PREFIX } from './names';
import { DEFAULT_THROTTLE } from './stateless-stack';

/**
 * The context flags the app understands (`-c name=value`, or `context` in cdk.json), each a
 * deployment choice a platform team makes without touching code.
 */
export const CONTEXT_FLAGS = {
  config: 'config',
  stackPrefix: 'stackPrefix',
  alarmEmail: 'alarmEmail',
  throttleRate: 'throttleRate',
  throttleBurst: 'throttleBurst',
  provisionedConcurrency: 'provisionedConcurrency',
  domainName: 'domainName',
  certificateArn: 'certificateArn',
  domainPath: 'domainPath',
} as const;

export interface ContextOptions extends BrokerStacksOptions {
  /** Where the configuration file is. */
  readonly configPath: string;
}

/**
 * The app's options from its context. Values given with `-c` arrive as strings; numbers are parsed
 * strictly, and a flag that is given but unusable is an error naming it, never silently ignored.
 * @param get reads one context value (`app.node.tryGetContext`)
 * @throws InvalidPropsError naming the flag
 */
export function optionsFromContext(get: (name: string) => unknown): ContextOptions {
  const text = (name: string): string | undefined => {
    const value = get(name);
    if (value === undefined || value === null || value === '') return undefined;
    return String(value).trim();
  };
  const number = (name: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(value))
      throw new InvalidPropsError(`-c ${name}=${value}: a positive number is expected`);
    return Number(value);
  };

  const configPath = text(CONTEXT_FLAGS.config) ?? DEFAULT_CONFIG_PATH;
  const alarmEmail = text(CONTEXT_FLAGS.alarmEmail);
  const rateLimit = number(CONTEXT_FLAGS.throttleRate) ?? DEFAULT_THROTTLE.rateLimit;
  const burstLimit = number(CONTEXT_FLAGS.throttleBurst) ?? DEFAULT_THROTTLE.burstLimit;
  const provisionedConcurrency = number(CONTEXT_FLAGS.provisionedConcurrency);
  const domainName = text(CONTEXT_FLAGS.domainName);
  const certificateArn = text(CONTEXT_FLAGS.certificateArn);
  const domainPath = text(CONTEXT_FLAGS.domainPath)?.replace(/^\/+|\/+$/g, '');
  if ((domainName === undefined) !== (certificateArn === undefined))
    throw new InvalidPropsError(
      `-c ${CONTEXT_FLAGS.domainName} and -c ${CONTEXT_FLAGS.certificateArn} go together: give both or neither`,
    );
  if (domainPath !== undefined && domainName === undefined)
    throw new InvalidPropsError(`-c ${CONTEXT_FLAGS.domainPath} needs -c ${CONTEXT_FLAGS.domainName}`);

  return {
    configPath,
    prefix: text(CONTEXT_FLAGS.stackPrefix) ?? DEFAULT_PREFIX,
    stateless: {
      throttle: { rateLimit, burstLimit },
      ...(alarmEmail ? { alarmEmail } : {}),
      ...(provisionedConcurrency !== undefined ? { provisionedConcurrency } : {}),
      ...(domainName && certificateArn
        ? { customDomain: { domainName, certificateArn, ...(domainPath ? { path: domainPath } : {}) } }
        : {}),
    },
  };
}

/** Where the CDK CLI reads the app's context from: the project's cdk.json. */
export const CDK_JSON_PATH = 'cdk.json';

/**
 * The `context` of cdk.json: the feature flags and defaults the CDK CLI hands to the app. Given to
 * `new App({ context })`, so an app run without the CLI (a test, `node --import tsx infra/app.ts`)
 * synthesizes what `cdk deploy` would; under the CLI its own context (cdk.json, `-c`) still takes
 * precedence over the constructor's.
 * @param path the cdk.json to read, relative to the working directory (the project root)
 */
export function cdkJsonContext(path = CDK_JSON_PATH): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InvalidPropsError(
      `cannot read ${path} (${code}) in ${process.cwd()}: run the CDK app from the project's root`,
    );
  }
  const parsed = JSON.parse(text) as { context?: Record<string, unknown> };
  return { ...parsed.context };
}
