import { Console } from 'node:console';
import { format as formatText } from 'node:util';
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
import type { MetricsOptions } from '@aws-lambda-powertools/metrics/types';
import { type Clock, systemClock } from '../shared/clock';
import { loggerOptions } from '../shared/logging/logger';
import type { SensitiveValues } from '../shared/logging/redaction';
import {
  devLine,
  type LogRecord,
  noticeLine,
  type ProcessWarning,
  wantsColour,
  warningLine,
} from './dev-log-format';

/**
 * How the local stack shows what its functions log: `short`, one line per request, per refresher
 * run and per warning or error (dev-log-format.ts), or `json`, their lines exactly as Lambda
 * prints them.
 */
export type FunctionLogFormat = 'short' | 'json';

export interface FunctionLogsOptions {
  /** @default 'json' (what a stack started by a test or a benchmark has always printed) */
  readonly format?: FunctionLogFormat;
  /**
   * Hold every line until {@link FunctionLogs.release}: `npm start` prints nothing before its
   * banner but a failure to start. @default false
   */
  readonly held?: boolean;
  /** Where short lines go. @default process.stdout */
  readonly write?: (text: string) => void;
  /** Short lines in colour. @default when stdout is a terminal and `NO_COLOR` is not set */
  readonly colour?: boolean;
  /** The time shown for a process warning, which carries none. @default systemClock */
  readonly clock?: Clock;
}

/** The functions' logging of one local stack, and the process warnings shown with it. */
export interface FunctionLogs {
  /**
   * The logger of one of the stack's functions: the house logger (the same records, the same
   * redaction), printing as this output says.
   *
   * @param sensitive the function's registry of secret values, which its token engine fills in
   */
  logger(serviceName: string, sensitive: SensitiveValues): Logger;
  /**
   * Where a function's Powertools Metrics writes its own warnings (no metrics to flush on a
   * `GET /v1/health`, say): a short line, or the console text Lambda gets.
   */
  readonly metricsLogger: MetricsLogger;
  /**
   * A warning of the Node process (its `warning` event: the AWS SDK's NodeVersionSupportWarning on
   * Node 20, say), shown as this output shows warnings: a short line, or as Node prints it.
   */
  warning(warning: ProcessWarning): void;
  /** Prints what was held, in order; from now on every line is printed as it comes. */
  release(): void;
}

/** What Powertools Metrics writes its own warnings to. */
export type MetricsLogger = NonNullable<MetricsOptions['logger']>;

/** What the logger hands over for each line: Lambda's printing of it, and the record it prints. */
interface LogLine {
  /** Powertools' own printing: the JSON line on stdout (stderr for WARN and above), as on Lambda. */
  printAsLambda(): void;
  /** The record as that line carries it, redacted. */
  record(): LogRecord;
}

/**
 * The house logger with Powertools' printing step, `printLog`, handed to the local output:
 * Powertools builds each record as on Lambda (attributes, Lambda context, redacting replacer), and
 * the output either lets Powertools print it unchanged or reads the record back from the same JSON
 * it would print. Powertools keeps both methods protected for subclasses (`createLogger`'s TSDoc:
 * "important for customization and subclassing"), so nothing of it is forked or patched. Log
 * buffering (`logBufferOptions`), which prints by another path, is not used by the functions.
 *
 * @see https://docs.aws.amazon.com/powertools/typescript/latest/core/logger/
 */
class LocalFunctionLogger extends Logger {
  // Not set while Powertools' constructor prints its own set-up warnings: those go out as on Lambda.
  private readonly show: ((line: LogLine) => void) | undefined;

  constructor(options: ConstructorOptions, show: (line: LogLine) => void) {
    super(options);
    this.show = show;
  }

  protected override createLogger(options: ConstructorOptions = {}): Logger {
    return this.show ? new LocalFunctionLogger(options, this.show) : super.createLogger(options);
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    if (!this.show) {
      super.printLog(logLevel, log);
      return;
    }
    this.show({
      printAsLambda: () => super.printLog(logLevel, log),
      record: () => {
        log.prepareForPrint();
        return JSON.parse(JSON.stringify(log.getAttributes(), this.getJsonReplacer())) as LogRecord;
      },
    });
  }
}

/**
 * The output of one local stack's functions (docs/design.md "Local stack"): `npm start` makes one
 * with the format its flags ask for, held until the banner is out; a stack started without one
 * prints the functions' JSON lines as Lambda does.
 *
 * @example
 * const logs = createFunctionLogs({ format: 'short', held: true });
 * const stack = await startLocalStack({ logs });
 * process.stdout.write(banner);
 * logs.release();
 */
export function createFunctionLogs(options: FunctionLogsOptions = {}): FunctionLogs {
  const format = options.format ?? 'json';
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const colour = options.colour ?? wantsColour(process.stdout, process.env);
  const clock = options.clock ?? systemClock;
  let held: (() => void)[] | undefined = options.held ? [] : undefined;
  const print = (show: () => void) => {
    if (held) held.push(show);
    else show();
  };
  const showLine = (line: LogLine) => {
    if (format === 'json') {
      print(() => line.printAsLambda());
      return;
    }
    // Read now, as Lambda would print it now: a held line shows the record as it was when logged.
    const short = devLine(line.record(), { colour });
    if (short !== undefined) print(() => write(`${short}\n`));
  };
  // The console Powertools Metrics writes to when given no logger, as on Lambda.
  const metricsConsole = new Console({ stdout: process.stdout, stderr: process.stderr });
  const metricsSays =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...content: unknown[]): void => {
      if (format === 'json') {
        print(() => metricsConsole[level](...content));
        return;
      }
      if (level !== 'warn' && level !== 'error') return;
      const notice = {
        level: level === 'warn' ? 'WARN' : 'ERROR',
        source: 'metrics',
        text: formatText(...content),
      } as const;
      const line = noticeLine(notice, new Date(clock.now()), { colour });
      print(() => write(`${line}\n`));
    };
  return {
    logger: (serviceName, sensitive) =>
      new LocalFunctionLogger(loggerOptions({ serviceName, sensitive }), showLine),
    metricsLogger: {
      debug: metricsSays('debug'),
      info: metricsSays('info'),
      warn: metricsSays('warn'),
      error: metricsSays('error'),
    },
    warning: (warning) => {
      if (format === 'json') {
        // Node's own form: `--json-logs` adds nothing of ours, and stdout stays the functions' lines.
        const code = warning.code ? `[${warning.code}] ` : '';
        print(() =>
          process.stderr.write(`(node:${process.pid}) ${code}${warning.name}: ${warning.message}\n`),
        );
        return;
      }
      const line = warningLine(warning, new Date(clock.now()), { colour });
      print(() => write(`${line}\n`));
    },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const show of waiting) show();
    },
  };
}
