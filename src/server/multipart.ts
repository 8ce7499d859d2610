/**
 * A streaming `multipart/form-data` reader for the local server's uploads: parts are handed
 * on chunk by chunk as they arrive, so a file part is never held whole here.
 */

/** One part's headers, as the reader found them. */
export interface PartHead {
  /** The form field's name (`purpose`, `file`). */
  name: string;
  /** The file name, for a file part. */
  filename: string | undefined;
  contentType: string | undefined;
}

export interface MultipartHandlers {
  start(head: PartHead): void;
  data(chunk: Buffer): void;
  end(): void;
}

/** A part's headers are small: more than this before the blank line is no multipart body. */
const MAX_HEAD_BYTES = 16 * 1024;

/** The body broke the multipart rules. */
export class MultipartError extends Error {}

/** The boundary of a `multipart/form-data` content type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

/** Reads one multipart body written to it chunk by chunk; `end()` checks it was complete. */
export class MultipartReader {
  readonly #delimiter: Buffer;
  readonly #handlers: MultipartHandlers;
  // The body starts with `--boundary`, not `\r\n--boundary`: a CRLF before it makes every
  // delimiter alike.
  #pending: Buffer = Buffer.from('\r\n');
  #state: 'preamble' | 'after-delimiter' | 'head' | 'body' | 'done' = 'preamble';

  constructor(boundary: string, handlers: MultipartHandlers) {
    this.#delimiter = Buffer.from(`\r\n--${boundary}`);
    this.#handlers = handlers;
  }

  write(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (!this.#step()) return;
    }
  }

  end(): void {
    if (this.#state !== 'done') throw new MultipartError('the multipart body ended before its closing boundary');
  }

  /** Moves on as far as the bytes held allow; false when it needs more. */
  #step(): boolean {
    const pending = this.#pending;
    switch (this.#state) {
      case 'preamble': {
        const at = pending.indexOf(this.#delimiter);
        if (at === -1) {
          this.#pending = pending.subarray(Math.max(0, pending.length - this.#delimiter.length + 1));
          return false;
        }
        this.#pending = pending.subarray(at + this.#delimiter.length);
        this.#state = 'after-delimiter';
        return true;
      }
      case 'after-delimiter': {
        if (pending.length < 2) return false;
        const mark = pending.toString('latin1', 0, 2);
        if (mark === '--') {
          this.#state = 'done';
          this.#pending = Buffer.alloc(0);
          return false;
        }
        if (mark !== '\r\n') throw new MultipartError('a boundary is not followed by CRLF');
        this.#pending = pending.subarray(2);
        this.#state = 'head';
        return true;
      }
      case 'head': {
        const at = pending.indexOf('\r\n\r\n');
        if (at === -1) {
          if (pending.length > MAX_HEAD_BYTES) throw new MultipartError('a part has more than 16 kB of headers');
          return false;
        }
        this.#handlers.start(parseHead(pending.toString('utf8', 0, at)));
        this.#pending = pending.subarray(at + 4);
        this.#state = 'body';
        return true;
      }
      case 'body': {
        const at = pending.indexOf(this.#delimiter);
        if (at === -1) {
          // Keep what could be the start of a delimiter split across chunks; hand on the rest.
          const keep = Math.min(pending.length, this.#delimiter.length - 1);
          if (pending.length > keep) this.#handlers.data(pending.subarray(0, pending.length - keep));
          this.#pending = pending.subarray(pending.length - keep);
          return false;
        }
        if (at > 0) this.#handlers.data(pending.subarray(0, at));
        this.#handlers.end();
        this.#pending = pending.subarray(at + this.#delimiter.length);
        this.#state = 'after-delimiter';
        return true;
      }
      case 'done':
        return false;
    }
  }
}

function parseHead(text: string): PartHead {
  let name: string | undefined;
  let filename: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const header = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (header === 'content-type') contentType = value;
    if (header !== 'content-disposition') continue;
    name = /;\s*name="([^"]*)"/i.exec(value)?.[1] ?? /;\s*name=([^;\s]+)/i.exec(value)?.[1];
    const file = /;\s*filename="([^"]*)"/i.exec(value)?.[1] ?? /;\s*filename=([^;\s]+)/i.exec(value)?.[1];
    filename = file === undefined ? undefined : unescapeQuoted(file);
  }
  if (name === undefined) throw new MultipartError('a part has no Content-Disposition name');
  return { name: unescapeQuoted(name), filename, contentType };
}

/** Undoes the WHATWG escaping of `"`, CR and LF in quoted names. */
function unescapeQuoted(value: string): string {
  return value.replace(/%22/g, '"').replace(/%0D/gi, '\r').replace(/%0A/gi, '\n');
}
