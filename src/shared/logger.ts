import { pino, type Logger, type LoggerOptions } from 'pino';
import type { Env } from '../config/env.js';

/** Headers whose values must never reach a log line. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-mpanel-signature"]',
  'req.headers["stripe-signature"]',
  'req.headers["x-api-key"]',
  '*.password',
  '*.refreshToken',
  '*.token',
];

/**
 * pino everywhere (Fastify's own logger). JSON in production; on an interactive terminal in
 * development the lines are pretty-printed so a person can read them.
 */
export function createLogger(env: Pick<Env, 'LOG_LEVEL' | 'NODE_ENV'>, name = 'mpanel'): Logger {
  const options: LoggerOptions = {
    name,
    level: env.LOG_LEVEL,
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
  if (env.NODE_ENV === 'development' && process.stdout.isTTY) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}
