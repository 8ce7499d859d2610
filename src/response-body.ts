import type { Readable, Transform } from 'node:stream';
import { pipeline as pipelineCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** `content-encoding` values decoded here, each with its streaming decompressor. */
const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** What reading a body gave: its decoded chunks as they came (never joined here), or why there are none. */
export type BodyResult =
  | { kind: 'bytes'; chunks: Buffer[]; truncated: boolean }
  | { kind: 'too-large'; received: number }
  | { kind: 'unknown-encoding' }
  | { kind: 'undecodable'; error: Error };

export interface ReadBodyOptions {
  /** Most decoded bytes kept. */
  maxBytes: number;
  /** Past `maxBytes`, keep the first `maxBytes` (error pages) instead of giving up (answers). */
  truncate: boolean;
  /** Given each decoded chunk within `maxBytes` as it arrives, beside the chunks kept. */
  onChunk?: ((chunk: Buffer) => void) | undefined;
}

/** The encodings a `content-encoding` header lists, in the order they were applied. */
export function contentEncodings(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((value) => value.trim().toLowerCase())
    .filter((value) => value !== '' && value !== 'identity');
}

/** The chunks of a body as one UTF-8 string. */
export function bodyText(chunks: readonly Buffer[]): string {
  return (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
}

/**
 * Reads `body`, decoding `encodings` as it streams, and counts decoded bytes as
 * chunks arrive: once past `maxBytes` it stops and destroys the body (closing the connection),
 * so neither an endless answer nor a zip bomb is ever held whole. Errors of the body itself
 * (socket, abort) are thrown as they are, for the caller to classify.
 */
export async function readBody(body: Readable, encodings: string[], options: ReadBodyOptions): Promise<BodyResult> {
  if (encodings.some((encoding) => !DECODERS[encoding])) {
    // Destroying undici's body emits an abort error; nobody else listens for it.
    body.on('error', () => {}).destroy();
    return { kind: 'unknown-encoding' };
  }
  // Applied in order, so undone in reverse.
  const decoders = encodings.toReversed().map((encoding) => DECODERS[encoding]!());
  let bodyFailed = false;
  let decodeError: Error | undefined;
  body.once('error', () => {
    bodyFailed = true;
  });
  for (const decoder of decoders) {
    // A body error reaches the decoders too once the pipeline tears down; only their own counts.
    decoder.once('error', (error) => {
      if (!bodyFailed) decodeError ??= error;
    });
  }

  const chunks: Buffer[] = [];
  let received = 0;
  let overflow = false;
  const collect = async (source: AsyncIterable<Buffer>): Promise<void> => {
    for await (const chunk of source) {
      received += chunk.length;
      if (received > options.maxBytes) {
        overflow = true;
        if (options.truncate) chunks.push(chunk.subarray(0, chunk.length - (received - options.maxBytes)));
        // Throwing ends the pipeline and destroys the body: nothing more is read.
        throw new Error('body over maxBytes');
      }
      chunks.push(chunk);
      options.onChunk?.(chunk);
    }
  };
  try {
    await (pipeline as (...streams: unknown[]) => Promise<void>)(body, ...decoders, collect);
  } catch (error) {
    if (overflow && !options.truncate) return { kind: 'too-large', received };
    if (!overflow) {
      if (decodeError) return { kind: 'undecodable', error: decodeError };
      throw error;
    }
  }
  return { kind: 'bytes', chunks, truncated: overflow };
}

/**
 * `body` decoded from `encodings` as it streams, for a caller that reads it itself; undefined
 * (and `body` left as it is) when an encoding is not one of {@link DECODERS}.
 */
export function decodedStream(body: Readable, encodings: string[]): Readable | undefined {
  if (encodings.some((encoding) => !DECODERS[encoding])) return undefined;
  if (encodings.length === 0) return body;
  const decoders = encodings.toReversed().map((encoding) => DECODERS[encoding]!());
  // An error anywhere (the socket, a decoder) reaches the last stream, which the caller reads.
  (pipelineCallback as (...streams: unknown[]) => unknown)(body, ...decoders, () => {});
  return decoders.at(-1)!;
}
