import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { applyLoggingLevel, bosLevel, createLogger, pinoLevel, silentLogger } from '../../src/log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { lines, destination };
}

describe('log', () => {
  it('maps BOS level names to pino levels and back', () => {
    expect(pinoLevel('DEBUG')).toBe('debug');
    expect(pinoLevel('warning')).toBe('warn');
    expect(pinoLevel('CRITICAL')).toBe('fatal');
    expect(pinoLevel('LOUD')).toBeUndefined();
    expect(bosLevel('warn')).toBe('WARNING');
    expect(bosLevel('fatal')).toBe('CRITICAL');
  });

  it('writes JSON lines with a level name and falls back to INFO on an unknown level', () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: 'LOUD', destination });
    log.info({ count: 3 }, 'hello');
    expect(lines[0]).toMatchObject({ level: 'warn', requested: 'LOUD' });
    expect(lines[1]).toMatchObject({ level: 'info', app: 'bos', count: 3, msg: 'hello' });
  });

  it('applies logging_level, ignores unknown values and leaves a silent logger silent', () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: 'INFO', destination });
    expect(applyLoggingLevel(log, 'ERROR')).toBe(true);
    expect(log.level).toBe('error');
    expect(applyLoggingLevel(log, 'ERROR')).toBe(false);
    expect(applyLoggingLevel(log, 'NOISY')).toBe(false);
    expect(log.level).toBe('error');
    expect(applyLoggingLevel(log, '')).toBe(false);
    const silent = silentLogger();
    expect(applyLoggingLevel(silent, 'DEBUG')).toBe(false);
    expect(silent.level).toBe('silent');
    expect(lines.some((l) => l.msg === 'log level changed from INFO to ERROR')).toBe(true);
  });
});
