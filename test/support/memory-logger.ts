/** A Logger that keeps what it was told, for tests that assert on log lines (and on what is never logged). */
import type { Logger } from '../../src/core/ports.js';

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg?: string | undefined;
}

export function memoryLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}
