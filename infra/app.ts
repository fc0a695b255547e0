/**
 * The CDK app (`node_modules/.bin/cdk synth|deploy`). Reads the configuration from
 * `-c config=<path>` (default config/connections.json) and validates it with the schema the
 * functions use; builds the stateful and stateless stacks; applies cdk-nag's AwsSolutions checks,
 * so synthesis fails on any unacknowledged finding. Environment and context are read here only.
 *
 * Context (infra/context.ts, README "Deploy"): `config`, `stackPrefix` (default TicketBroker),
 * `alarmEmail`, `throttleRate`, `throttleBurst`, `provisionedConcurrency`, `domainName` with
 * `certificateArn` and optionally `domainPath`. Account and region come from
 * CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION when the CLI has credentials; without them the stacks are
 * environment-agnostic, so synth needs none.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type BrokerConfig, ConfigValidationError } from '../shared/config/schema';
import { buildBrokerStacks } from './broker-app';
import { ConfigFileError, loadBrokerConfigFile } from './config-file';
import { type ContextOptions, cdkJsonContext, optionsFromContext } from './context';
import { InvalidPropsError } from './errors';

/** One line naming the problem, no stack trace: a configuration mistake is not a crash. */
function fail(error: unknown): never {
  if (
    !(
      error instanceof ConfigValidationError ||
      error instanceof ConfigFileError ||
      error instanceof InvalidPropsError
    )
  )
    throw error;
  const hint = error instanceof ConfigFileError ? '; give another with -c config=<path>' : '';
  process.stderr.write(`ticket-broker: ${error.message}${hint}\n`);
  process.exit(1);
}

// cdk.json's context (feature flags) also when the app runs without the CLI.
let context: Record<string, unknown> = {};
try {
  context = cdkJsonContext();
} catch (error) {
  fail(error);
}
const app = new App({ context });
let options: ContextOptions;
let config: BrokerConfig;
try {
  options = optionsFromContext((name) => app.node.tryGetContext(name));
  config = loadBrokerConfigFile(options.configPath);
} catch (error) {
  fail(error);
}

const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
try {
  buildBrokerStacks(app, config, {
    ...options,
    ...(account && region ? { env: { account, region } } : {}),
  });
} catch (error) {
  fail(error);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
try {
  app.synth();
} catch (error) {
  // A validation (e.g. a function environment over Lambda's 4 KB) says what is wrong; no trace.
  if (
    !(
      error instanceof Error &&
      (error.name === 'ValidationFailed' || /Validation failed/.test(error.message))
    )
  )
    throw error;
  process.stderr.write(`ticket-broker: ${error.message}\n`);
  process.exit(1);
}
