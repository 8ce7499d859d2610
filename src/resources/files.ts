import { Readable } from 'node:stream';
import * as z from 'zod';
import type { EmbeddingsClient } from '../client.js';
import { APIConnectionError, APITimeoutError, EmbeddingsError } from '../errors.js';
import type { RequestOptions, VectorType } from '../options.js';
import { requesterOf } from '../requester.js';
import { abortError } from '../retry.js';
import { parseArgument } from '../schemas.js';
import { displayURL, type StreamingResponse } from '../transport.js';
import {
  FileCreateParams,
  FileDeleted,
  FileListParams,
  FileObject,
  FilePage,
  readObject,
  ResourceId,
} from './objects.js';
import { CursorList } from './pages.js';
import { fileLikeOf, multipart, type Uploadable } from './uploadable.js';

/** What `files.create()` takes: openai-node's params. */
export interface FileUploadParams {
  /** The content, streamed: an `fs.ReadStream`, a `File`, or `toFile(content, name)`. */
  file: Uploadable;
  /** What the file is for: `'batch'` for a Batch API input file. */
  purpose: 'batch' | 'assistants' | 'fine-tune' | 'vision' | 'user_data' | 'evals';
  /** When the file expires, in seconds after its creation (3600 to 2592000). */
  expires_after?: { anchor: 'created_at'; seconds: number };
}

/** The Files resource: `client.files`, with openai-node's names. */
export class Files {
  readonly #client: EmbeddingsClient<VectorType>;

  constructor(client: EmbeddingsClient<VectorType>) {
    this.#client = client;
  }

  /**
   * Uploads a file as `multipart/form-data`, streamed from its source: the bytes are never
   * held whole. Bytes, a `File` or a `ReadStream` are sent again if an attempt fails; an
   * iterable given to `toFile` is read once, and its upload is not retried.
   * @example
   * const file = await client.files.create({ file: fs.createReadStream('shard-1.jsonl'), purpose: 'batch' });
   */
  async create(params: FileUploadParams, options?: RequestOptions): Promise<FileObject> {
    const checked = parseArgument(FileCreateParams, 'files.create params', params, false);
    const file = await fileLikeOf(checked.file);
    const fields: { name: string; value: string }[] = [{ name: 'purpose', value: checked.purpose }];
    if (checked.expires_after) {
      fields.push(
        { name: 'expires_after[anchor]', value: checked.expires_after.anchor },
        { name: 'expires_after[seconds]', value: String(checked.expires_after.seconds) },
      );
    }
    const body = multipart([...fields, { name: 'file', file }]);
    const requester = requesterOf(this.#client);
    const response = await requester.request(
      'POST',
      '/files',
      { kind: 'stream', contentType: body.contentType, length: body.length, open: body.open },
      requester.resolve(options),
      { replayable: file.replayable },
    );
    return readObject('POST', '/files', response, FileObject);
  }

  /** The file's metadata. */
  async retrieve(fileId: string, options?: RequestOptions): Promise<FileObject> {
    const path = `/files/${id(fileId, 'files.retrieve', 'fileId')}`;
    const requester = requesterOf(this.#client);
    const response = await requester.request('GET', path, { kind: 'none' }, requester.resolve(options));
    return readObject('GET', path, response, FileObject);
  }

  /**
   * The files of the organisation (OpenAI: newest first), across every page: iterate it with
   * `for await`, or call `pages()` for one page at a time.
   * @example for await (const file of client.files.list({ purpose: 'batch' })) ...
   */
  list(params: FileListParams = {}, options?: RequestOptions): FileList {
    const checked = parseArgument(FileListParams, 'files.list params', params, false);
    const resolved = requesterOf(this.#client).resolve(options);
    return new FileList(this.#client, '/files', checked, resolved, FilePage);
  }

  /** Deletes the file. */
  async delete(fileId: string, options?: RequestOptions): Promise<FileDeleted> {
    const path = `/files/${id(fileId, 'files.delete', 'fileId')}`;
    const requester = requesterOf(this.#client);
    const response = await requester.request('DELETE', path, { kind: 'none' }, requester.resolve(options));
    return readObject('DELETE', path, response, FileDeleted);
  }

  /**
   * The file's bytes as a Node `Readable`, read as they arrive with backpressure, so a
   * gigabyte output file goes through bounded memory (`maxResponseBytes` does not apply).
   * Resolves once the answer's headers are in (an error status rejects, retried like any
   * request). While reading, `timeout` bounds each silence of the body, not the whole
   * download; a download cut short (the connection lost before the declared length or the
   * last chunk) fails the stream with `APIConnectionError`, a stall with `APITimeoutError`,
   * an abort with `APIUserAbortError`: never a short file read as a whole one.
   * @example
   * for await (const { value } of readBatchLines(await client.files.content(batch.output_file_id), BatchResultLine)) ...
   */
  async content(fileId: string, options?: RequestOptions): Promise<Readable> {
    const path = `/files/${id(fileId, 'files.content', 'fileId')}/content`;
    const requester = requesterOf(this.#client);
    const resolved = requester.resolve(options);
    const response = await requester.request('GET', path, { kind: 'none' }, resolved, { stream: true });
    const url = displayURL(`${requester.options.baseURL}${path}`);
    return Readable.from(checkedBody(response, url, resolved.timeout, resolved.signal), { objectMode: false });
  }
}

/** Every file of `files.list()`, page after page as it is iterated; `.pages()` gives the pages. */
export class FileList extends CursorList<FileObject, FilePage> {}

/** The body's chunks, with every way it can end early turned into this package's errors. */
async function* checkedBody(
  response: StreamingResponse,
  url: string,
  timeout: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of response.body) yield chunk as Buffer;
  } catch (error) {
    if (error instanceof EmbeddingsError) throw error;
    if (signal?.aborted) throw abortError(signal);
    if (response.timedOut()) throw new APITimeoutError('GET', url, timeout, { cause: error });
    throw new APIConnectionError('GET', url, {
      cause: error,
      message: `GET ${url}: the download was cut short (${(error as Error).message})`,
    });
  } finally {
    // Leaving the loop early (the reader stopped) must release the connection.
    response.body.destroy();
  }
}

/** `value` as a path segment, after checking it names something. */
export function id(value: unknown, method: string, name: string): string {
  const checked = parseArgument(z.object({ [name]: ResourceId }), `${method} arguments`, { [name]: value }, false);
  return encodeURIComponent(checked[name] as string);
}
