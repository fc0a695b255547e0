/**
 * The CDK app (`node_modules/.bin/cdk synth|deploy`). Reads the configuration from
 * `-c config=<path>` (default config/connections.json) and validates it with the schema the
 * functions use; builds the stateful and stateless stacks; applies cdk-nag's AwsSolutions checks,
 * so synthesis fails on any unacknowledged finding. Environment and context are read here only.
 *
 * Context: `config` (path), `stackPrefix` (default TicketBroker), `alarmEmail` (subscribed to the
 * alarm topic). Account and region come from CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION when the CLI
 * has credentials; without them the stacks are environment-agnostic, so synth needs none.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type BrokerConfig, ConfigValidationError } from '../shared/config/schema';
import { buildBrokerStacks } from './broker-app';
import { ConfigFileError, DEFAULT_CONFIG_PATH, loadBrokerConfigFile } from './config-file';
import { InvalidPropsError } from './errors';

const app = new App();
const configPath = String(app.node.tryGetContext('config') ?? DEFAULT_CONFIG_PATH);

let config: BrokerConfig;
try {
  config = loadBrokerConfigFile(configPath);
} catch (error) {
  if (!(error instanceof ConfigValidationError || error instanceof ConfigFileError)) throw error;
  // One line naming the file and every bad field; no stack trace for a configuration mistake.
  process.stderr.write(`ticket-broker: ${error.message}\n`);
  process.exit(1);
}

const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
const alarmEmail = app.node.tryGetContext('alarmEmail') as string | undefined;

try {
  buildBrokerStacks(app, config, {
    prefix: String(app.node.tryGetContext('stackPrefix') ?? 'TicketBroker'),
    ...(account && region ? { env: { account, region } } : {}),
    stateless: { configPath, ...(alarmEmail ? { alarmEmail: String(alarmEmail) } : {}) },
  });
} catch (error) {
  if (!(error instanceof InvalidPropsError)) throw error;
  process.stderr.write(`ticket-broker: ${error.message}\n`);
  process.exit(1);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
