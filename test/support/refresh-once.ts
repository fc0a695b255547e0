/**
 * Runs the refresh-tokens handler module once in this process, as one Lambda invocation, and
 * prints `RESULT <summary>` or `ERROR <message>`. Used to kill a refresher half-way.
 */
import type { Context } from 'aws-lambda';
import { lambdaContext, scheduledEvent } from '../../local/lambda-context';

const { handler } = (await import('../../functions/refresh-tokens/handler')) as unknown as {
  handler: (event: unknown, context: Context) => Promise<unknown>;
};
process.stdout.write('STARTED\n');
try {
  const summary = await handler(scheduledEvent(), lambdaContext('refresh-tokens', 20_000));
  process.stdout.write(`RESULT ${JSON.stringify(summary)}\n`);
} catch (error) {
  process.stdout.write(`ERROR ${(error as Error).message}\n`);
  process.exitCode = 1;
}
