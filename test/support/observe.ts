/** What the tests of the client's log, events and OpenTelemetry read: recorded lines and an injected failure. */
import { HttpResponse } from 'msw';
import type { Logger, LogLevel } from '../../src/index.js';

export interface LogLine {
  level: Exclude<LogLevel, 'off'>;
  message: string;
  fields: unknown;
}

/** A logger that keeps every line it is given. */
export function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const write = (level: LogLine['level']) => (message: string, fields?: unknown) => {
    lines.push({ level, message, fields });
  };
  return { logger: { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') }, lines };
}

/** An OpenAI error answer of `status` that advises a retry after `retryAfterMs`. */
export function failure(status: number, retryAfterMs: number, headers: Record<string, string> = {}): Response {
  const type = status === 429 ? 'requests' : 'server_error';
  return HttpResponse.json(
    {
      error: { message: `injected ${status}`, type, param: null, code: status === 429 ? 'rate_limit_exceeded' : null },
    },
    { status, headers: { 'retry-after-ms': String(retryAfterMs), ...headers } },
  );
}
