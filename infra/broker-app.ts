import type { App, Environment } from 'aws-cdk-lib';
import type { BrokerConfig } from '../shared/config/schema';
import { checkPrefix, DEFAULT_PREFIX } from './names';
import { StatefulStack } from './stateful-stack';
import { StatelessStack, type StatelessStackProps } from './stateless-stack';

export interface BrokerStacksOptions {
  /**
   * Stack names are `<prefix>Stateful` and `<prefix>Api`, and every physical name carries the
   * prefix, so deployments with different prefixes sit side by side. @default 'TicketBroker'
   */
  readonly prefix?: string;
  /** Account and region. @default - environment-agnostic stacks */
  readonly env?: Environment;
  /** Passed to the stateless stack. @default - its defaults */
  readonly stateless?: Pick<
    StatelessStackProps,
    | 'throttle'
    | 'provisionedConcurrency'
    | 'customDomain'
    | 'ticketLatencyThreshold'
    | 'logRetention'
    | 'alarmEmail'
  >;
  /** The configuration file, repeated in the commands the stacks print. @default 'config/connections.json' */
  readonly configPath?: string;
}

export interface BrokerStacks {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/**
 * The broker's two stacks on an app: the stateful one (key, table, secrets; retained) and the
 * stateless one, which receives the stateful resources as typed props. What it imports from the
 * stateful stack (table, key) does not depend on the connections.
 */
export function buildBrokerStacks(
  app: App,
  config: BrokerConfig,
  options: BrokerStacksOptions = {},
): BrokerStacks {
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const env = options.env ? { env: options.env } : {};
  const stateful = new StatefulStack(app, `${prefix}Stateful`, {
    config,
    namePrefix: prefix,
    ...(options.configPath ? { configPath: options.configPath } : {}),
    description: 'ticket-broker: KMS key, table and partner secrets (all retained)',
    ...env,
  });
  const stateless = new StatelessStack(app, `${prefix}Api`, {
    ...options.stateless,
    config,
    namePrefix: prefix,
    table: stateful.table,
    connectionSecrets: stateful.connectionSecrets,
    description: 'ticket-broker: functions, HTTP API, refresh schedule, alarms, dashboard',
    ...env,
  });
  return { stateful, stateless };
}
