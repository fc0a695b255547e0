import type { BrokerConfig } from '../shared/config/schema';
import { METRICS_NAMESPACE } from '../shared/logging/telemetry';
import { InvalidPropsError } from './errors';

/**
 * A deployment's names. Everything that has a physical name in the account carries the deployment
 * prefix (`-c stackPrefix=...`), so two deployments can sit side by side in one account and region.
 */
export const DEFAULT_PREFIX = 'TicketBroker';

/** Stack names are `<prefix>Stateful` and `<prefix>Api`; the prefix is also in every physical name. */
export function checkPrefix(prefix: string): string {
  if (!/^[A-Za-z][A-Za-z0-9-]{0,39}$/.test(prefix))
    throw new InvalidPropsError(
      `stack prefix "${prefix}" must start with a letter and hold only letters, digits and - (at most 40)`,
    );
  return prefix;
}

/** Secrets Manager's limit on a secret name. */
const MAX_SECRET_NAME = 512;

/** What every connection secret name of a deployment starts with: `<prefix>/`. */
export function secretNamePrefix(prefix: string): string {
  return `${checkPrefix(prefix)}/`;
}

/**
 * The deployed name of a connection's secret: `<prefix>/<secretId>`. Every secret of a deployment
 * is under `<prefix>/`, so one IAM statement covers them all whatever the number of connections,
 * and no deployment's prefix is a prefix of another's (the `/` ends it; a prefix holds no `/`).
 * @param namePrefix the deployment's secret name prefix (secretNamePrefix)
 */
export function deployedSecretName(namePrefix: string, secretId: string): string {
  const name = `${namePrefix}${secretId}`;
  if (name.length > MAX_SECRET_NAME)
    throw new InvalidPropsError(
      `secret name "${name.slice(0, 60)}..." is over Secrets Manager's ${MAX_SECRET_NAME} characters; shorten the secretId`,
    );
  return name;
}

/**
 * The configuration as the deployed functions read it: each connection's `secretId` replaced by
 * the deployed secret's name. Everything else is unchanged.
 * @param namePrefix the deployment's secret name prefix (secretNamePrefix)
 */
export function deployedConfig(config: BrokerConfig, namePrefix: string): BrokerConfig {
  const connections = Object.fromEntries(
    Object.entries(config.connections).map(([id, connection]) => [
      id,
      { ...connection, secretId: deployedSecretName(namePrefix, connection.secretId) },
    ]),
  );
  return { ...config, connections };
}

/**
 * The CloudWatch namespace of a deployment's metrics: METRICS_NAMESPACE for the default prefix,
 * `<METRICS_NAMESPACE>/<prefix>` for any other, so a second deployment's dashboard and alarms never
 * read the first one's metrics.
 */
export function metricsNamespaceOf(prefix: string): string {
  return prefix === DEFAULT_PREFIX ? METRICS_NAMESPACE : `${METRICS_NAMESPACE}/${prefix}`;
}
