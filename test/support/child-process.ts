import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

/** Output kept per child (the most recent part). */
const MAX_OUTPUT = 4 * 1024 * 1024;

export interface RunningChild {
  readonly process: ChildProcess;
  /** The first capture group of the ready pattern (e.g. a URL). */
  readonly ready: string;
  /** Its stdout and stderr, in the order they arrived. */
  output(): string;
  /** Its stdout alone. */
  stdout(): string;
  stop(): Promise<void>;
}

/**
 * Starts a child process and resolves once a line of its stdout matches `readyPattern`.
 * `stop()` closes its stdin, then signals it, and waits for it to exit.
 */
export function startChild(
  command: string,
  args: readonly string[],
  readyPattern: RegExp,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<RunningChild> {
  const child = spawn(command, args, {
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGTERM'), 2000);
      await exited;
      clearTimeout(timer);
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not become ready in time; output:\n${output}`));
    }, options.timeoutMs ?? 20_000);
    let ready = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      stdout += chunk.toString('utf8');
      // A chatty child (logs per request) must not grow this without bound.
      if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT / 2);
      if (stdout.length > MAX_OUTPUT) stdout = stdout.slice(-MAX_OUTPUT / 2);
      if (ready) return;
      const match = readyPattern.exec(output);
      if (match) {
        ready = true;
        clearTimeout(timer);
        resolve({
          process: child,
          ready: match[1] ?? match[0],
          output: () => output,
          stdout: () => stdout,
          stop,
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT / 2);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before it was ready; output:\n${output}`));
    });
  });
}

/** How one of the project's scripts ended: its exit code and what it printed. */
export interface ScriptResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one of the project's scripts (`scripts/callers.ts`) as `npm run` does, through tsx in a
 * child Node, and resolves with how it ended, a failure included.
 */
export async function runScript(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<ScriptResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      {
        env,
        timeout: 30_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as ScriptResult;
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
