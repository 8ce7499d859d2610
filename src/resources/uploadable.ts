import { randomBytes } from 'node:crypto';
import { createReadStream, ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { InvalidArgumentError } from '../errors.js';

/**
 * What `files.create()` uploads, streamed, never held whole: a file's `fs.ReadStream`, a
 * `File` (or a `Blob` with `toFile`), or bytes or chunks given a name with {@link toFile}.
 */
export type Uploadable = ReadStream | File | FileLike;

/** Content with a file name, as {@link toFile} makes it. */
export interface FileLike {
  readonly name: string;
  /** The part's `Content-Type`. @default 'application/octet-stream' */
  readonly type: string;
  /** Bytes in all, when known beforehand (sent as `content-length`). */
  readonly size: number | undefined;
  /** Whether `chunks()` can be read more than once (so a failed upload may be retried). */
  readonly replayable: boolean;
  chunks(): AsyncIterable<Uint8Array>;
}

/** The content {@link toFile} takes. */
export type FileContent =
  | Blob
  | Uint8Array
  | ArrayBuffer
  | string
  | readonly (Uint8Array | string)[]
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>;

/**
 * Names `content` for an upload, as openai-node's `toFile` does. Bytes, a string, a Blob and
 * an array of chunks can be sent again if an attempt fails; an iterable or async iterable
 * (a generator, a stream) is read once, as it arrives, and its upload is not retried.
 * @example
 * await client.files.create({ file: toFile(lines(), 'shard-1.jsonl'), purpose: 'batch' });
 */
export function toFile(content: FileContent, name: string, options: { type?: string } = {}): FileLike {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`toFile: \`name\` must be a non-empty string (got ${JSON.stringify(name)})`);
  }
  const type = options.type ?? (content instanceof Blob && content.type ? content.type : 'application/octet-stream');
  if (content instanceof Blob) {
    return { name, type, size: content.size, replayable: true, chunks: () => blobChunks(content) };
  }
  if (typeof content === 'string' || content instanceof Uint8Array || content instanceof ArrayBuffer) {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : new Uint8Array(content);
    return { name, type, size: bytes.byteLength, replayable: true, chunks: () => once(bytes) };
  }
  if (Array.isArray(content)) {
    const chunks = (content as readonly (Uint8Array | string)[]).map(asBytes);
    const size = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    return { name, type, size, replayable: true, chunks: () => once(...chunks) };
  }
  if (isAsyncIterable(content) || isIterable(content)) {
    let read = false;
    return {
      name,
      type,
      size: undefined,
      replayable: false,
      chunks: () => {
        if (read) throw new InvalidArgumentError(`toFile: the content of ${JSON.stringify(name)} was already read`);
        read = true;
        return mapChunks(content);
      },
    };
  }
  throw new InvalidArgumentError(
    `toFile: \`content\` must be a Blob, bytes, a string, or an (async) iterable of chunks (got ${typeof content})`,
  );
}

/**
 * The upload `file` stands for, checked before any request. A `ReadStream` is read once as it
 * is and re-opened from its path for a retry; its size comes from the file.
 */
export async function fileLikeOf(file: unknown): Promise<FileLike> {
  if (file instanceof ReadStream) {
    const path = typeof file.path === 'string' ? file.path : file.path.toString();
    const range = file as unknown as { start?: number; end?: number };
    const start = range.start;
    // Node sets `end` to Infinity when none was given.
    const end = range.end === Infinity ? undefined : range.end;
    let size: number | undefined;
    if (file.bytesRead === 0) {
      let fileSize: number;
      try {
        fileSize = (await stat(path)).size;
      } catch (error) {
        throw new InvalidArgumentError(
          `Invalid files.create params: \`file\` is a ReadStream of ${JSON.stringify(path)}, which cannot be read (${(error as Error).message})`,
          { cause: error },
        );
      }
      const from = start ?? 0;
      size = Math.max(0, Math.min(end === undefined ? fileSize : end + 1, fileSize) - from);
    }
    let used = false;
    return {
      name: basename(path),
      type: 'application/octet-stream',
      size,
      replayable: true,
      chunks: () => {
        // The first attempt reads the stream it was given; a retry opens the file again.
        if (!used) {
          used = true;
          return file as AsyncIterable<Buffer>;
        }
        return createReadStream(path, { start, end });
      },
    };
  }
  if (typeof File !== 'undefined' && file instanceof File) {
    if (file.name === '')
      throw new InvalidArgumentError('Invalid files.create params: `file` is a File without a name');
    return toFile(file, file.name);
  }
  if (isFileLike(file)) return file;
  if (file instanceof Blob) {
    throw new InvalidArgumentError(
      "Invalid files.create params: `file` is a Blob without a name: give it one with toFile(blob, 'input.jsonl')",
    );
  }
  const got = file === null ? 'null' : typeof file === 'string' ? JSON.stringify(file) : typeof file;
  throw new InvalidArgumentError(
    `Invalid files.create params: \`file\` must be an fs.ReadStream, a File, or toFile(content, name) (got ${got})`,
  );
}

function isFileLike(value: unknown): value is FileLike {
  const candidate = value as Partial<FileLike> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.name === 'string' &&
    typeof candidate.chunks === 'function'
  );
}

/** One part of a multipart body: a text field, or the file. */
type Part = { name: string; value: string } | { name: string; file: FileLike };

/** A `multipart/form-data` body, streamed part by part, with its length when every part's is known. */
export interface MultipartBody {
  contentType: string;
  length: number | undefined;
  open: () => AsyncIterable<Uint8Array>;
}

/** Encodes `parts` as `multipart/form-data` (RFC 7578) without holding the file. */
export function multipart(parts: Part[]): MultipartBody {
  const boundary = `----embedrail${randomBytes(16).toString('hex')}`;
  const heads = parts.map((part) => {
    const disposition = `form-data; name="${escapeQuoted(part.name)}"`;
    const head =
      'file' in part
        ? `--${boundary}\r\nContent-Disposition: ${disposition}; filename="${escapeQuoted(part.file.name)}"\r\n` +
          `Content-Type: ${part.file.type}\r\n\r\n`
        : `--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n`;
    return Buffer.from(head, 'utf8');
  });
  const tail = Buffer.from(`--${boundary}--\r\n`, 'utf8');
  const crlf = Buffer.from('\r\n');
  let length: number | undefined = tail.length;
  parts.forEach((part, i) => {
    const body = 'file' in part ? part.file.size : Buffer.byteLength(part.value, 'utf8');
    length = length === undefined || body === undefined ? undefined : length + heads[i]!.length + body + crlf.length;
  });
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    open: async function* () {
      for (const [i, part] of parts.entries()) {
        yield heads[i]!;
        if ('file' in part) yield* part.file.chunks();
        else yield Buffer.from(part.value, 'utf8');
        yield crlf;
      }
      yield tail;
    },
  };
}

/** WHATWG's escaping of names in multipart headers: `"`, CR and LF as percent escapes. */
function escapeQuoted(name: string): string {
  return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A Blob is read a slice at a time: a File backed by a disk file is never loaded whole. */
const BLOB_SLICE_BYTES = 1024 * 1024;

async function* blobChunks(blob: Blob): AsyncIterable<Uint8Array> {
  for (let at = 0; at < blob.size; at += BLOB_SLICE_BYTES) {
    yield new Uint8Array(await blob.slice(at, at + BLOB_SLICE_BYTES).arrayBuffer());
  }
}

async function* once(...chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

async function* mapChunks(source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>) {
  for await (const chunk of source) yield asBytes(chunk);
}

function asBytes(chunk: Uint8Array | string): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return chunk;
  throw new InvalidArgumentError(`toFile: every chunk must be a string or a Uint8Array (got ${typeof chunk})`);
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array | string> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
}

function isIterable(value: unknown): value is Iterable<Uint8Array | string> {
  return typeof (value as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] === 'function';
}
