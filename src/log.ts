// Logging: JSON lines (pino) when stderr is not a terminal or --json is given; short human lines on a TTY.
// Logs go to stderr so stdout carries only results (tables, JSON) that scripts can parse.
import pino from 'pino';

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export interface LogOptions {
  level: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  json: boolean;
}

const levels = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;

function humanLogger(opts: LogOptions, bound: Fields = {}): Logger {
  const min = levels[opts.level];
  const write = (level: keyof typeof levels, msg: string, fields?: Fields) => {
    if (levels[level] < min) return;
    const all = { ...bound, ...fields };
    const extra = Object.entries(all)
      .filter(([k]) => k !== 'job' && k !== 'date')
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    const prefix = level === 'info' ? '' : `${level.toUpperCase()} `;
    process.stderr.write(`${prefix}${msg}${extra ? `  (${extra})` : ''}\n`);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (f) => humanLogger(opts, { ...bound, ...f }),
  };
}

function wrapPino(p: pino.Logger): Logger {
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
    child: (f) => wrapPino(p.child(f)),
  };
}

export function createLogger(opts: LogOptions): Logger {
  if (!opts.json) return humanLogger(opts);
  return wrapPino(pino({ level: opts.level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true })));
}

export const silentLogger: Logger = createLogger({ level: 'silent', json: false });
