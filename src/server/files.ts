import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Answer } from './handler.js';
import { cursorPage, DRAIN_MS, OpenAIError } from './http.js';
import { boundaryOf, MultipartError, MultipartReader, type PartHead } from './multipart.js';

/** The purposes OpenAI's upload takes. */
const UPLOAD_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
/** OpenAI keeps a `batch` file 30 days unless told otherwise. @unit s */
const BATCH_FILE_LIFETIME_S = 30 * 24 * 3600;
/** `GET /v1/files` pages: 10,000 files unless `limit` says fewer. */
const FILE_PAGES = { defaultLimit: 10_000, maxLimit: 10_000, what: 'file' };
/** Stored files are kept in pieces of about this size. @unit bytes */
const PIECE_BYTES = 1024 * 1024;

/** A file the server holds: OpenAI's file object and its bytes. */
export interface StoredFile {
  object: {
    id: string;
    object: 'file';
    bytes: number;
    created_at: number;
    expires_at: number | null;
    filename: string;
    purpose: string;
    status: 'processed';
  };
  pieces: Buffer[];
}

/** Unix seconds now. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** An id like OpenAI's: `file-` and 22 base62-ish characters. */
export function newId(prefix: string): string {
  return `${prefix}${randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 22)}`;
}

/** Joins written text into pieces of about {@link PIECE_BYTES}, for a file built line by line. */
export class PieceWriter {
  readonly pieces: Buffer[] = [];
  bytes = 0;
  #text = '';

  write(text: string): void {
    this.#text += text;
    if (this.#text.length >= PIECE_BYTES) this.#flush();
  }

  finish(): Buffer[] {
    this.#flush();
    return this.pieces;
  }

  #flush(): void {
    if (this.#text === '') return;
    const piece = Buffer.from(this.#text, 'utf8');
    this.pieces.push(piece);
    this.bytes += piece.length;
    this.#text = '';
  }
}

/** The server's files, in memory, bounded per file and in total. */
export class FileStore {
  readonly #files = new Map<string, StoredFile>();
  #stored = 0;

  constructor(
    readonly maxFileBytes: number,
    readonly maxStoredBytes: number,
  ) {}

  get(id: string): StoredFile {
    const file = this.#files.get(id);
    if (file === undefined) throw new OpenAIError(404, `No such File object: ${id}`, { param: 'id' });
    return file;
  }

  /** Bytes still free in total. */
  get free(): number {
    return this.maxStoredBytes - this.#stored;
  }

  /** Keeps `pieces` as a new file; false when the total cap has no room for them. */
  add(filename: string, purpose: string, pieces: Buffer[], expiresAfter?: number): StoredFile | undefined {
    const bytes = pieces.reduce((sum, piece) => sum + piece.length, 0);
    if (bytes > this.free) return undefined;
    const created = nowSeconds();
    const lifetime = expiresAfter ?? (purpose === 'batch' ? BATCH_FILE_LIFETIME_S : undefined);
    const file: StoredFile = {
      object: {
        id: newId('file-'),
        object: 'file',
        bytes,
        created_at: created,
        expires_at: lifetime === undefined ? null : created + lifetime,
        filename,
        purpose,
        status: 'processed',
      },
      pieces,
    };
    this.#files.set(file.object.id, file);
    this.#stored += bytes;
    return file;
  }

  /** `GET /v1/files`: `purpose`, `limit` (1 to 10,000), `order` (`desc` by default) and `after`, as OpenAI pages them. */
  list(query: URLSearchParams): Answer {
    const order = query.get('order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc') {
      throw new OpenAIError(400, `Invalid value for 'order': '${order}'. Supported values are: 'asc' and 'desc'.`, {
        param: 'order',
        code: 'invalid_value',
      });
    }
    const purpose = query.get('purpose');
    let files = [...this.#files.values()].map((file) => file.object);
    if (purpose !== null) files = files.filter((file) => file.purpose === purpose);
    if (order === 'desc') files.reverse();
    return { status: 200, body: JSON.stringify(cursorPage(files, query, FILE_PAGES)), headers: {} };
  }

  delete(id: string): void {
    const file = this.get(id);
    this.#files.delete(id);
    this.#stored -= file.object.bytes;
  }
}

/** `POST /v1/files`: a multipart upload, read as it streams, refused past the caps. */
export async function uploadFile(req: IncomingMessage, store: FileStore): Promise<Answer> {
  const boundary = boundaryOf(req.headers['content-type']);
  if (boundary === undefined) {
    throw new OpenAIError(400, "Invalid Content-Type header, expected 'multipart/form-data' with a boundary.");
  }
  const fields: Record<string, string> = {};
  let file: { name: string; pieces: Buffer[]; bytes: number } | undefined;
  let part: PartHead | undefined;
  let text: Buffer[] = [];
  let tooLarge: string | undefined;
  const cap = Math.min(store.maxFileBytes, store.free);
  const reader = new MultipartReader(boundary, {
    start: (head) => {
      part = head;
      text = [];
      if (head.name === 'file') file = { name: head.filename ?? 'file', pieces: [], bytes: 0 };
    },
    data: (chunk) => {
      if (part?.name !== 'file') {
        if (text.reduce((sum, piece) => sum + piece.length, chunk.length) > 64 * 1024) {
          throw new MultipartError(`the field '${part?.name}' is longer than 64 kB`);
        }
        text.push(Buffer.from(chunk));
        return;
      }
      file!.bytes += chunk.length;
      if (file!.bytes > cap) {
        tooLarge ??=
          cap === store.maxFileBytes
            ? `File is too large: the limit is ${store.maxFileBytes} bytes.`
            : `Storage limit reached: the server holds at most ${store.maxStoredBytes} bytes of files.`;
        file!.pieces = [];
        return;
      }
      // A copy: the reader's chunk is a view into a buffer reused for what follows.
      file!.pieces.push(Buffer.from(chunk));
    },
    end: () => {
      if (part && part.name !== 'file') fields[part.name] = Buffer.concat(text).toString('utf8');
      part = undefined;
    },
  });
  try {
    await readInto(req, reader, () => tooLarge !== undefined);
  } catch (error) {
    if (error instanceof MultipartError) throw new OpenAIError(400, `Could not parse multipart form: ${error.message}`);
    throw error;
  }
  if (tooLarge !== undefined) {
    throw new OpenAIError(413, tooLarge, { code: 'file_too_large', headers: { connection: 'close' } });
  }
  const purpose = fields.purpose;
  if (purpose === undefined) {
    throw new OpenAIError(400, "Missing required parameter: 'purpose'.", {
      param: 'purpose',
      code: 'missing_required_parameter',
    });
  }
  if (!UPLOAD_PURPOSES.includes(purpose)) {
    throw new OpenAIError(
      400,
      `Invalid value for 'purpose': '${purpose}'. Supported values are: ${UPLOAD_PURPOSES.map((p) => `'${p}'`).join(', ')}.`,
      { param: 'purpose', code: 'invalid_value' },
    );
  }
  if (file === undefined) {
    throw new OpenAIError(400, "Missing required parameter: 'file'.", {
      param: 'file',
      code: 'missing_required_parameter',
    });
  }
  const stored = store.add(file.name, purpose, file.pieces, expiresAfter(fields));
  if (stored === undefined) {
    throw new OpenAIError(
      413,
      `Storage limit reached: the server holds at most ${store.maxStoredBytes} bytes of files.`,
      {
        code: 'file_too_large',
      },
    );
  }
  return { status: 200, body: JSON.stringify(stored.object), headers: {} };
}

/** `expires_after[anchor]` and `expires_after[seconds]`, as OpenAI checks them. */
function expiresAfter(fields: Record<string, string>): number | undefined {
  const anchor = fields['expires_after[anchor]'];
  const seconds = fields['expires_after[seconds]'];
  if (anchor === undefined && seconds === undefined) return undefined;
  if (anchor !== 'created_at') {
    throw new OpenAIError(
      400,
      `Invalid value for 'expires_after.anchor': '${anchor}'. Supported values are: 'created_at'.`,
      {
        param: 'expires_after.anchor',
        code: 'invalid_value',
      },
    );
  }
  const value = Number(seconds);
  if (!Number.isInteger(value) || value < 3600 || value > 2_592_000) {
    throw new OpenAIError(
      400,
      `Invalid 'expires_after.seconds': expected an integer between 3600 and 2592000, but got ${seconds} instead.`,
      { param: 'expires_after.seconds', code: 'invalid_value' },
    );
  }
  return value;
}

/**
 * Feeds the request body to `reader`. Once `refused()` says the upload will be refused, the
 * rest is read and dropped (for at most {@link DRAIN_MS}, then the socket is cut), so the
 * client reads the refusal instead of a reset connection.
 */
function readInto(req: IncomingMessage, reader: MultipartReader, refused: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: unknown): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', finish);
      if (error === undefined) resolve();
      else reject(error instanceof Error ? error : new Error('the upload could not be read'));
    };
    const onData = (chunk: Buffer): void => {
      if (refused()) {
        timer ??= setTimeout(() => {
          req.pause();
          req.socket.destroySoon();
          finish();
        }, DRAIN_MS);
        return;
      }
      try {
        reader.write(chunk);
      } catch (error) {
        finish(error);
      }
    };
    const onEnd = (): void => {
      if (refused()) return finish();
      try {
        reader.end();
        finish();
      } catch (error) {
        finish(error);
      }
    };
    req.on('data', onData).on('end', onEnd).on('error', finish);
  });
}

/** `GET /v1/files/{id}/content`: the bytes, streamed with backpressure. */
export function fileContent(store: FileStore, id: string): Answer {
  const file = store.get(id);
  return {
    status: 200,
    body: '',
    headers: { 'content-length': String(file.object.bytes) },
    contentType: 'application/octet-stream',
    stream: Readable.from(file.pieces, { objectMode: false }),
  };
}

/** `DELETE /v1/files/{id}`. */
export function deleteFile(store: FileStore, id: string): Answer {
  store.delete(id);
  return { status: 200, body: JSON.stringify({ id, object: 'file', deleted: true }), headers: {} };
}
