import type { App, Environment } from 'aws-cdk-lib';
import type { BrokerConfig } from '../shared/config/schema';
import { InvalidPropsError } from './errors';
import { StatefulStack } from './stateful-stack';
import { StatelessStack, type StatelessStackProps } from './stateless-stack';

export interface BrokerStacksOptions {
  /** Stack names are `<prefix>Stateful` and `<prefix>Api`. @default 'TicketBroker' */
  readonly prefix?: string;
  /** Account and region. @default - environment-agnostic stacks */
  readonly env?: Environment;
  /** Passed to the stateless stack. @default - its defaults */
  readonly stateless?: Pick<
    StatelessStackProps,
    'throttle' | 'ticketLatencyThreshold' | 'logRetention' | 'alarmEmail' | 'configPath'
  >;
}

export interface BrokerStacks {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/**
 * The broker's two stacks on an app: the stateful one (key, table, secrets; retained) and the
 * stateless one, which receives the stateful resources as typed props.
 */
export function buildBrokerStacks(
  app: App,
  config: BrokerConfig,
  options: BrokerStacksOptions = {},
): BrokerStacks {
  const prefix = options.prefix ?? 'TicketBroker';
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(prefix))
    throw new InvalidPropsError(
      `stack prefix "${prefix}" must start with a letter and hold only letters, digits and -`,
    );
  const env = options.env ? { env: options.env } : {};
  const stateful = new StatefulStack(app, `${prefix}Stateful`, {
    config,
    description: 'ticket-broker: KMS key, table and partner secrets (all retained)',
    ...env,
  });
  const stateless = new StatelessStack(app, `${prefix}Api`, {
    ...options.stateless,
    config,
    table: stateful.table,
    secrets: stateful.secrets,
    description: 'ticket-broker: functions, HTTP API, refresh schedule, alarms',
    ...env,
  });
  return { stateful, stateless };
}
