/**
 * `npm run secrets -- list`: each connection's secret in a deployment and the command that puts
 * its credentials, derived from the configuration file and the stack prefix the way the stateful
 * stack names them (infra/connection-secrets.ts). Offline: it reads no AWS API.
 */
import { parseArgs } from 'node:util';
import { ConfigFileError, DEFAULT_CONFIG_PATH, loadBrokerConfigFile } from '../infra/config-file';
import { connectionSecretsOf, putSecretCommand, SECRET_VALUE_SHAPE } from '../infra/connection-secrets';
import { InvalidPropsError } from '../infra/errors';
import { DEFAULT_PREFIX } from '../infra/names';
import { ConfigValidationError } from '../shared/config/schema';

const USAGE = `usage:
  npm run secrets -- list [--region <region>] [--stack-prefix <prefix>] [--config <path>] [--json]

Prints, for each connection, its secret's name and the command that puts its credentials: the JSON
${SECRET_VALUE_SHAPE}, read from a file you write, run the command with, and delete.
The stateful stack's output PutSecretsCommand is this command with the deployment's options.

options:
  --region <region>        the deployment's region (default: $AWS_REGION; left out of the
                           printed commands when neither is set)
  --stack-prefix <prefix>  the deployment's -c stackPrefix (default: ${DEFAULT_PREFIX})
  --config <path>          the configuration file (default: ${DEFAULT_CONFIG_PATH})
  --json                   one JSON array: connection, kind, secretName, command`;

/** A mistake in how the command was called: printed as one line with the usage. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

function main(argv: string[]): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'list')
    throw new UsageError(
      positionals.length === 0 ? 'a command is required' : `unknown command "${positionals.join(' ')}"`,
    );

  const config = loadBrokerConfigFile(values.config ?? DEFAULT_CONFIG_PATH);
  const region = values.region ?? (process.env.AWS_REGION || undefined);
  const secrets = connectionSecretsOf(config, values['stack-prefix'] ?? DEFAULT_PREFIX).map((secret) => ({
    ...secret,
    command: putSecretCommand(secret, {
      ...(region ? { region } : {}),
      file: `${secret.connection}.secret.json`,
    }),
  }));
  if (values.json) {
    console.log(
      JSON.stringify(
        secrets.map(({ connection, kind, secretName, command }) => ({
          connection,
          kind,
          secretName,
          command,
        })),
        null,
        2,
      ),
    );
    return 0;
  }
  console.log(
    `# Write ${SECRET_VALUE_SHAPE} to <connection>.secret.json (umask 077; git ignores *.secret.json), run its line, delete the file.`,
  );
  for (const secret of secrets) {
    console.log(`# ${secret.connection} (${secret.kind}): ${secret.holds}`);
    console.log(secret.command);
  }
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      region: { type: 'string' },
      'stack-prefix': { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`secrets: ${error.message}\n${USAGE}`);
    process.exitCode = 2;
  } else if (
    error instanceof ConfigFileError ||
    error instanceof ConfigValidationError ||
    error instanceof InvalidPropsError
  ) {
    const hint = error instanceof ConfigFileError ? '; give another with --config <path>' : '';
    console.error(`secrets: ${error.message}${hint}`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
