/**
 * The pino JSON logger. Created once by a process entry point and passed in; operators derive a child
 * per operator (`operator` on every line) and set its level from the `logging_level` option.
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** The level names of the `logging_level` option, most verbose first. */
export const BOS_LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;

/** pino's levels, most verbose first. */
export const PINO_LOG_LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** BOS level names (and the WARN/FATAL spellings) → pino levels. */
const BOS_TO_PINO: Record<string, LevelWithSilent> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  WARN: 'warn',
  ERROR: 'error',
  CRITICAL: 'fatal',
  FATAL: 'fatal',
};

const PINO_TO_BOS: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
  silent: 'CRITICAL',
};

/** The pino level of a BOS level name (case-insensitive); undefined when the name is not one. */
export function pinoLevel(bosLevel: string | undefined | null): LevelWithSilent | undefined {
  if (typeof bosLevel !== 'string') return undefined;
  return BOS_TO_PINO[bosLevel.trim().toUpperCase()];
}

/** The level a process is started with (flag or environment): a pino level or a BOS name, any case. */
export function processLevel(name: string): LevelWithSilent | undefined {
  const l = name.trim().toLowerCase();
  return PINO_LOG_LEVELS.find((p) => p === l) ?? pinoLevel(l);
}

/** The BOS level name a pino level corresponds to (for log lines that report a level change). */
export function bosLevel(level: string): string {
  return PINO_TO_BOS[level] ?? level.toUpperCase();
}

export interface LoggerOptions {
  /** BOS level name (DEBUG, INFO, ...) or pino level; default env BOS_OPERATOR_LOG_LEVEL, else INFO. */
  level?: string;
  /** Where lines go (default stdout). Tests pass a stream to capture them. */
  destination?: DestinationStream;
  /** Fields put on every line. */
  base?: Record<string, unknown>;
}

/**
 * A JSON logger. An unknown level falls back to INFO with a warning line saying what was given.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const requested = opts.level ?? process.env.BOS_OPERATOR_LOG_LEVEL ?? 'INFO';
  const known = processLevel(requested);
  const logger = pino(
    {
      level: known ?? 'info',
      base: { app: 'bos', ...opts.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
  if (!known) {
    logger.warn({ requested }, `unknown log level ${JSON.stringify(requested)}; using INFO (valid: ${BOS_LOG_LEVELS.join(', ')})`);
  }
  return logger;
}

/** A logger that writes nothing (embedding and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Apply a `logging_level` option value to a logger. Returns true when the level changed. An empty value
 * changes nothing; an unknown one is logged as a warning and changes nothing; a silent logger stays
 * silent.
 */
export function applyLoggingLevel(logger: Logger, level: string | undefined | null): boolean {
  // A silent logger was made silent on purpose by whoever embeds the operators; options do not wake it.
  if (!level || logger.level === 'silent') return false;
  const target = pinoLevel(level);
  if (!target) {
    logger.warn({ logging_level: level }, `ignoring unknown logging_level ${JSON.stringify(level)}`);
    return false;
  }
  if (logger.level === target) return false;
  const previous = logger.level;
  const note = () =>
    logger.info({ from: bosLevel(previous), to: bosLevel(target) }, `log level changed from ${bosLevel(previous)} to ${bosLevel(target)}`);
  // Say so at whichever of the two levels is the more verbose, so the line is written either way.
  const quieter = logger.levels.values[target]! > logger.levels.values[previous]!;
  if (quieter) note();
  logger.level = target;
  if (!quieter) note();
  return true;
}
