/**
 * The logging interface dtx writes to. It is the subset of pino's Logger that dtx calls, so a
 * pino logger can be passed as is; pino itself lives at the edges (server, cli).
 */

/** A log method: `log({ xid }, 'committed')` or `log('committed')`, like pino's. */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

/** A structured logger shaped like pino's. */
export interface Logger {
  /** Per-message detail (every frame, every lock). */
  trace: LogFn;
  /** Detail for debugging a single transaction. */
  debug: LogFn;
  /** Lifecycle events: connected, registered, listening. */
  info: LogFn;
  /** Something went wrong and was handled (a retry, a reconnect). */
  warn: LogFn;
  /** Something went wrong and was not handled. */
  error: LogFn;
  /** The process cannot continue. */
  fatal: LogFn;
  /** A logger that adds `bindings` to every line (`{ module: 'rm', resourceId }`). */
  child(bindings: Record<string, unknown>): Logger;
}

/** Logger levels, lowest first, with pino's numeric values; 'silent' logs nothing. */
export const LogLevel = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
} as const;
/** The name of a level in `LogLevel`. */
export type LogLevel = keyof typeof LogLevel;

const noop: LogFn = () => {};

/** A Logger that drops everything; the default wherever a logger is optional. */
export const noopLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => noopLogger,
};

/** Where a console logger writes its lines. */
export interface LogDestination {
  write(line: string): unknown;
}

/**
 * A Logger writing one JSON object a line, pino's shape (`level`, `time`, bindings, fields,
 * `msg`), to stderr or `destination`. Errors become `{ type, message, code, stack, cause }`; bigints
 * (ids) become decimal strings.
 */
export function createConsoleLogger(
  level: LogLevel = 'info',
  destination: LogDestination = process.stderr,
  bindings: Record<string, unknown> = {},
): Logger {
  if (!Object.hasOwn(LogLevel, level)) throw new TypeError(`unknown log level ${JSON.stringify(level)}`);
  const threshold = LogLevel[level];
  const method = (name: Exclude<LogLevel, 'silent'>): LogFn => {
    const value = LogLevel[name];
    if (value < threshold) return noop;
    return (objOrMsg: object | string, msg?: string) => {
      let fields: object;
      let text = msg;
      if (typeof objOrMsg === 'string') {
        fields = {};
        text = objOrMsg;
      } else if (objOrMsg instanceof Error) {
        // pino's convention: a bare error is logged under `err`, its message as msg.
        fields = { err: objOrMsg };
        text ??= objOrMsg.message;
      } else {
        fields = objOrMsg;
      }
      const record = {
        level: value,
        time: Date.now(),
        ...bindings,
        ...fields,
        ...(text === undefined ? {} : { msg: text }),
      };
      destination.write(`${stringify(record)}\n`);
    };
  };
  return {
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
    child: (more) => createConsoleLogger(level, destination, { ...bindings, ...more }),
  };
}

function stringify(record: object): string {
  try {
    return JSON.stringify(record, replacer);
  } catch (err) {
    // A cycle in the logged object; keep the line rather than throw from a log call.
    const level = (record as { level: number }).level;
    return JSON.stringify({ level, time: Date.now(), msg: 'unserialisable log record', err: String(err) });
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return {
      type: value.name,
      message: value.message,
      ...(code === undefined ? {} : { code }),
      stack: value.stack,
      ...(value.cause === undefined ? {} : { cause: value.cause }),
    };
  }
  return value;
}
