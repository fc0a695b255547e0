import type { App, Environment } from 'aws-cdk-lib';
import type { BrokerConfig } from '../shared/config/schema';
import { StatefulStack } from './stateful-stack';
import { StatelessStack } from './stateless-stack';

export interface BrokerStacks {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/** The broker's two stacks on an app: stateful (retained) and stateless (receives it as props). */
export function buildBrokerStacks(
  app: App,
  config: BrokerConfig,
  options: { prefix?: string; env?: Environment } = {},
): BrokerStacks {
  const prefix = options.prefix ?? 'TicketBroker';
  const env = options.env ? { env: options.env } : {};
  const stateful = new StatefulStack(app, `${prefix}Stateful`, {
    config,
    description: 'ticket-broker: table, key and partner secrets (retained)',
    ...env,
  });
  const stateless = new StatelessStack(app, `${prefix}Api`, {
    config,
    table: stateful.table,
    key: stateful.key,
    secrets: stateful.secrets,
    description: 'ticket-broker: functions, HTTP API, refresh schedule, alarms',
    ...env,
  });
  return { stateful, stateless };
}
