import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error the server answers with OpenAI's body: `{ error: { message, type, param, code } }`. */
export class OpenAIError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  /** Extra response headers (retry-after, x-ratelimit-*, allow). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    fields: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'OpenAIError';
    this.status = status;
    this.type = fields.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = fields.param ?? null;
    this.code = fields.code ?? null;
    this.headers = fields.headers ?? {};
  }

  toBody(): string {
    return JSON.stringify({ error: { message: this.message, type: this.type, param: this.param, code: this.code } });
  }
}

/** OpenAI's request ids look like `req_` and 32 hex digits. */
export function newRequestId(): string {
  return `req_${randomBytes(16).toString('hex')}`;
}

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string>,
  contentType = 'application/json',
): void {
  if (res.headersSent || res.destroyed) return;
  // Encode once: a 2048 × 1536 answer is tens of megabytes, not worth scanning twice.
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': String(bytes.length) });
  res.end(bytes);
}

/**
 * How far the server reads an oversized body before answering 413: up to this many times
 * `maxBodyBytes` in all, for at most {@link DRAIN_MS}. Answering while the client is still
 * sending, then closing with its bytes unread, makes the kernel reset the connection, and the
 * reset can reach the client before it has read the 413: it sees a connection error and sends
 * the whole upload again. Past these bounds the upload is cut off, so an endless one cannot hold
 * the server.
 */
export const DRAIN_FACTOR = 4;
/** @unit ms */
export const DRAIN_MS = 5_000;

/**
 * What reading a request body produced: its text, or that it passed the cap. `drained` says
 * whether the rest of an oversized body was read to its end (the connection can close cleanly
 * after the answer) or cut off at the drain bounds.
 */
export type BodyResult = { ok: true; text: string } | { ok: false; tooLarge: true; bytes: number; drained: boolean };

/**
 * Reads the request body up to `maxBytes`. Past the cap it stops buffering at once (a huge
 * upload must not grow the heap) but reads on and discards the rest, within the drain bounds,
 * and reports how many bytes it saw.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const drainBytes = DRAIN_FACTOR * maxBytes;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > drainBytes) {
    return Promise.resolve({ ok: false, tooLarge: true, bytes: declared, drained: false });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    let timer: NodeJS.Timeout | undefined;
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > drainBytes) return cutOff();
      if (tooLarge) return;
      if (bytes > maxBytes) {
        tooLarge = true;
        chunks.length = 0;
        timer = setTimeout(cutOff, DRAIN_MS);
        return;
      }
      chunks.push(chunk);
    };
    const cutOff = (): void => {
      cleanup();
      // Stop reading: the socket is destroyed once the answer is out.
      req.pause();
      resolve({ ok: false, tooLarge: true, bytes: Number.isFinite(declared) ? declared : bytes, drained: false });
    };
    const onEnd = (): void => {
      cleanup();
      resolve(
        tooLarge
          ? { ok: false, tooLarge: true, bytes, drained: true }
          : { ok: true, text: Buffer.concat(chunks, bytes).toString('utf8') },
      );
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * Go's time.Duration format, which OpenAI uses in x-ratelimit-reset-*: `20ms`, `1s`, `1.5s`,
 * `6m0s`, `1h2m3s`.
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = (total % 60_000) / 1000;
  const secondsText = `${Number(seconds.toFixed(3))}s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}

/**
 * One page of `items` (already in the list's order) as OpenAI's cursor lists answer it:
 * `limit` (1 to `maxLimit`, `defaultLimit` when absent) items after the `after` cursor, with
 * `first_id`, `last_id` and `has_more`. `what` names the objects in the error for an unknown cursor.
 */
export function cursorPage<T extends { id: string }>(
  items: readonly T[],
  query: URLSearchParams,
  limits: { defaultLimit: number; maxLimit: number; what: string },
): { object: 'list'; data: T[]; first_id: string | null; last_id: string | null; has_more: boolean } {
  const limitText = query.get('limit');
  const limit = limitText === null ? limits.defaultLimit : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > limits.maxLimit) {
    throw new OpenAIError(
      400,
      `Invalid 'limit': expected an integer between 1 and ${limits.maxLimit}, but got ${limitText} instead.`,
      { param: 'limit', code: 'invalid_value' },
    );
  }
  const after = query.get('after');
  let start = 0;
  if (after !== null) {
    const at = items.findIndex((item) => item.id === after);
    if (at === -1) {
      throw new OpenAIError(400, `No such ${limits.what}: '${after}' (the 'after' cursor).`, { param: 'after' });
    }
    start = at + 1;
  }
  const data = items.slice(start, start + limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < items.length,
  };
}
