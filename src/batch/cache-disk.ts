/**
 * `createDiskCache()`: vectors kept in a folder on this machine, one file per vector, shared by
 * every process that opens the same folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EmbeddingsError, InvalidArgumentError } from '../errors.js';
import type { EmbeddingCache } from './cache.js';
import { encodeFloat32Bytes, storedVector } from './cache-bytes.js';

/** Options for `createDiskCache()`. */
export interface DiskCacheOptions {
  /** The folder holding the vectors; created (with its parents) when missing. */
  directory: string;
}

/** The disk cache's fixed bounds, in one place. */
export const DISK_CACHE_DEFAULTS = Object.freeze({
  /**
   * A file larger than this is not read, and is a miss: 65,536 dimensions, eight times the
   * longest vector a hosted model returns today (OpenAI's `text-embedding-3-large`: 3072).
   * @unit bytes
   */
  maxVectorBytes: 256 * 1024,
  /** Files read or written at once by one get() or set(): a lookup of 2,048 keys opens no more. */
  filesAtOnce: 32,
} as const);

/** Keys the batch engine makes (sha256 hex) name their file as they are; any other key is hashed first. */
const HEX_KEY = /^[0-9a-f]{64}$/;

/**
 * An `EmbeddingCache` in a folder: each vector is a file of its little-endian float32 bytes
 * (6,144 bytes for 1536 dimensions), at `<directory>/<first 2 characters of the key>/<key>`,
 * so no folder holds more than 1/256 of the files. Safe for several processes at once: a
 * vector is written to a temporary file and renamed into place, so a reader sees a whole
 * vector or none, and two writers of one key each put a whole file there. A file that is
 * empty, not a whole number of float32s, holds NaN or ±Infinity, or is larger than
 * `DISK_CACHE_DEFAULTS.maxVectorBytes` is a miss; a missing file is a miss. Any other error
 * (permissions, a full disk) rejects with an `EmbeddingsError` naming the file, and the batch
 * job stops with it: inputs not done have no outcome, and a rerun sends only what is missing.
 * Nothing expires: delete the folder, or files in it, to empty it.
 * @throws InvalidArgumentError when `directory` is not a non-empty string or cannot be created.
 * @example
 * const cache = createDiskCache({ directory: '.embedrail-cache' });
 * await client.embeddings.createMany({ model, input }, { cache });
 */
export function createDiskCache(options: DiskCacheOptions): EmbeddingCache {
  const directory = options?.directory;
  if (typeof directory !== 'string' || directory === '') {
    throw new InvalidArgumentError(
      `\`directory\` must be a non-empty string (got ${directory === '' ? "''" : typeof directory})`,
    );
  }
  const root = resolve(directory);
  try {
    mkdirSync(root, { recursive: true });
  } catch (error) {
    throw new InvalidArgumentError(`\`directory\` '${directory}' cannot be created: ${reason(error)}`, {
      cause: error,
    });
  }
  /** Subfolders known to exist: each is made once per cache, not once per write. */
  const made = new Set<string>();
  const pathOf = (key: string): { folder: string; file: string } => {
    const name = HEX_KEY.test(key) ? key : createHash('sha256').update(key).digest('hex');
    const folder = join(root, name.slice(0, 2));
    return { folder, file: join(folder, name) };
  };
  return {
    async get(keys) {
      const found = new Array<Float32Array | undefined>(keys.length);
      await eachAtOnce(keys.length, async (i) => {
        found[i] = await readVector(pathOf(keys[i]!).file);
      });
      return found;
    },
    async set(entries) {
      await eachAtOnce(entries.length, async (i) => {
        const [key, vector] = entries[i]!;
        const { folder, file } = pathOf(key);
        if (!made.has(folder)) {
          await mkdir(folder, { recursive: true }).catch((error: unknown) => {
            throw cacheError('create', folder, error);
          });
          made.add(folder);
        }
        await writeVector(file, encodeFloat32Bytes(vector));
      });
    },
  };
}

/** The vector in `file`, or undefined when there is none or it cannot be one. */
async function readVector(file: string): Promise<Float32Array | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return undefined;
    throw cacheError('read', file, error);
  }
  try {
    const { size } = await handle.stat();
    if (size === 0 || size > DISK_CACHE_DEFAULTS.maxVectorBytes) return undefined;
    const bytes = Buffer.allocUnsafe(size);
    const { bytesRead } = await handle.read(bytes, 0, size, 0);
    return bytesRead === size ? storedVector(bytes) : undefined;
  } catch (error) {
    throw cacheError('read', file, error);
  } finally {
    await handle.close().catch(() => {});
  }
}

/** Writes beside `file` under a name no other writer uses, then renames it into place (atomic on one filesystem). */
async function writeVector(file: string, bytes: Buffer): Promise<void> {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, bytes, { flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => {});
    throw cacheError('write', file, error);
  }
}

/**
 * Runs `task(0..count-1)` in index order, `DISK_CACHE_DEFAULTS.filesAtOnce` at a time: as many
 * workers each take the next index when their task is done, so a get of 100,000 keys holds a
 * counter, not 100,000 queued calls. After a failure none starts, and the first error is thrown
 * once the running ones have settled.
 */
async function eachAtOnce(count: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const index = next++;
      try {
        await task(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(count, DISK_CACHE_DEFAULTS.filesAtOnce) }, worker));
  if (failure !== undefined) throw failure.error;
}

function cacheError(action: 'read' | 'write' | 'create', path: string, error: unknown): EmbeddingsError {
  return new EmbeddingsError(`disk cache: cannot ${action} '${path}': ${reason(error)}`, { cause: error });
}

function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === code;
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}
