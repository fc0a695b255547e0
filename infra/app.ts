/**
 * The CDK app (`node_modules/.bin/cdk synth|deploy`). Reads the configuration from
 * `-c config=<path>` (default config/connections.json), validates it with the schema the functions
 * use, and applies cdk-nag's AwsSolutions checks. Environment lookups happen here only.
 */
import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigValidationError, parseBrokerConfigJson } from '../shared/config/schema';
import { buildBrokerStacks } from './broker-app';

const app = new App();
const configPath = String(app.node.tryGetContext('config') ?? 'config/connections.json');
let text: string;
try {
  text = readFileSync(configPath, 'utf8');
} catch {
  process.stderr.write(
    `ticket-broker: cannot read the configuration file ${configPath} (set it with -c config=<path>)\n`,
  );
  process.exit(1);
}
let config: ReturnType<typeof parseBrokerConfigJson>;
try {
  config = parseBrokerConfigJson(text, configPath);
} catch (error) {
  if (!(error instanceof ConfigValidationError)) throw error;
  process.stderr.write(`ticket-broker: ${error.message}\n`);
  process.exit(1);
}

const env =
  process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
    ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
    : undefined;
const prefix = String(app.node.tryGetContext('stackPrefix') ?? 'TicketBroker');

buildBrokerStacks(app, config, { prefix, ...(env ? { env } : {}) });

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
