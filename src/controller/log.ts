/**
 * Structured context of a log line: which object it is about (`namespace`, `name`, the `controller`), and for
 * failures `level: 'error'`. JSON output makes each a field, so log pipelines can filter by tenant.
 */
export interface LogFields {
  level?: 'info' | 'error';
  [field: string]: string | number | undefined;
}

/** Where the controller machinery reports what it cannot throw to a caller (a dropped watch, a failed retry). */
export type Log = (message: string, fields?: LogFields) => void;

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** One line: the time, the message, then `key=value` for each field (values with spaces quoted). */
export function textLine(at: Date, message: string, fields: LogFields = {}): string {
  const pairs = Object.entries(fields)
    .filter(([key, value]) => value !== undefined && key !== 'level')
    .map(([key, value]) => `${key}=${/[\s"=]/.test(String(value)) ? JSON.stringify(String(value)) : value}`);
  const level = fields.level === 'error' ? ' ERROR' : '';
  return [`${at.toISOString()}${level} ${message}`, ...pairs].join(' ');
}

/** One JSON object: `ts`, `level`, `msg`, then the fields, as controller-runtime's zap encoder names them. */
export function jsonLine(at: Date, message: string, fields: LogFields = {}): string {
  const { level = 'info', ...rest } = fields;
  return JSON.stringify({ ts: at.toISOString(), level, msg: message, ...rest });
}

/** A Log writing to stderr in `format`. */
export function stderrLog(format: LogFormat): Log {
  const line = format === 'json' ? jsonLine : textLine;
  return (message, fields) => {
    process.stderr.write(`${line(new Date(), message, fields)}\n`);
  };
}

export const logToStderr: Log = stderrLog('text');

export const discardLog: Log = () => {};
