import { Console } from 'node:console';
import { InvalidArgumentError } from '../errors.js';

/** Anything with these four methods: `console`, pino, winston, a test's recorder. */
export interface Logger {
  debug(message: string, ...rest: unknown[]): void;
  info(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
}

/** How much the client logs, from everything (`'debug'`) to nothing (`'off'`). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off';

export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['debug', 'info', 'warn', 'error', 'off']);

/** The environment variable that sets `logLevel` when the option is not given. */
export const LOG_LEVEL_VAR = 'EMBEDRAIL_LOG';

/** What a line may carry beside its message: plain values, never a key, a token or input text. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/**
 * A logger filtered to a level. Lines are written as `message` and one object of fields, so
 * a structured logger keeps the fields and `console` prints both. A logger that throws is
 * ignored: logging must never fail a request.
 */
export class Log {
  readonly #logger: Logger;
  readonly #rank: number;
  /** Whether input text may be logged (only ever at `'debug'`). */
  readonly inputs: boolean;

  constructor(logger: Logger, level: LogLevel, inputs: boolean) {
    this.#logger = logger;
    this.#rank = LOG_LEVELS.indexOf(level);
    this.inputs = inputs && level === 'debug';
  }

  enabled(level: Exclude<LogLevel, 'off'>): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#rank;
  }

  debug(message: string, fields?: LogFields): void {
    this.#write('debug', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#write('info', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#write('warn', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.#write('error', message, fields);
  }

  #write(level: Exclude<LogLevel, 'off'>, message: string, fields: LogFields | undefined): void {
    if (!this.enabled(level)) return;
    try {
      if (fields === undefined) this.#logger[level](`embedrail: ${message}`);
      else this.#logger[level](`embedrail: ${message}`, fields);
    } catch {
      // A broken logger loses its line, not the request.
    }
  }
}

/**
 * Standard error for every level: `console.info` and `console.debug` write to standard output,
 * which may be the vectors a program prints.
 */
let stderrConsole: Logger | undefined;
function stderrLogger(): Logger {
  return (stderrConsole ??= new Console({ stdout: process.stderr, stderr: process.stderr }));
}

/**
 * The client's log, or undefined without a `logger` and without a level (option or
 * `EMBEDRAIL_LOG`): warnings then keep going to `process.emitWarning`, as they always did. A
 * level without a logger writes to standard error.
 */
export function resolveLog(
  options: { logger?: Logger | undefined; logLevel?: LogLevel | undefined; logInputs?: boolean | undefined },
  env: NodeJS.ProcessEnv,
  defaultLevel: LogLevel,
): Log | undefined {
  const fromEnv = env[LOG_LEVEL_VAR]?.trim().toLowerCase() || undefined;
  if (options.logLevel === undefined && fromEnv !== undefined && !LOG_LEVELS.includes(fromEnv as LogLevel)) {
    throw new InvalidArgumentError(
      `${LOG_LEVEL_VAR} must be one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')} (got ${JSON.stringify(env[LOG_LEVEL_VAR])})`,
    );
  }
  const level = options.logLevel ?? (fromEnv as LogLevel | undefined);
  // 'off' is a log that takes nothing, not no log: the client's warnings then go nowhere either.
  if (options.logger === undefined && level === undefined) return undefined;
  return new Log(options.logger ?? stderrLogger(), level ?? defaultLevel, options.logInputs ?? false);
}
