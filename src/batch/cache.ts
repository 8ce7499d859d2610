import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { InvalidArgumentError } from '../errors.js';

/**
 * Where `createMany()` and `stream()` keep vectors between runs. Plug any store (Redis, a
 * file, a database) by implementing these two methods; `createMemoryCache()` ships one.
 * Vectors are stored as the server sent them, before `normalize`, so one cache serves
 * calls with either setting.
 */
export interface EmbeddingCache {
  /** The vector for each key, or `undefined` where there is none, in the order of `keys`. */
  get(keys: string[]): Promise<(Float32Array | undefined)[]>;
  /** Stores vectors; called after each completed request. */
  set(entries: [string, Float32Array][]): Promise<void>;
}

/** What a cache key is made of: the same text sent to another host, model or size is another vector. */
export interface CacheKeyScope {
  /** Host (and port) of the base URL, e.g. `api.openai.com`. */
  host: string;
  model: string;
  dimensions: number | undefined;
  /** A query and a document of one text are different vectors. */
  inputType?: string | undefined;
  /** The `extraBody` sent, as sorted JSON: provider fields (`truncate`, `task`, a prompt name) change the vector too. */
  extraBody?: string | undefined;
}

/**
 * sha256 over (host, model, dimensions, [input type,] [extra body,] text), hex; NUL-separated so
 * no two tuples collide. Without an input type or extra body the key is what it always was, so
 * stored caches stay valid.
 */
export function cacheKey(scope: CacheKeyScope, text: string): string {
  const typed = scope.inputType === undefined ? '' : `\x01${scope.inputType}\0`;
  const extra = scope.extraBody === undefined ? '' : `\x02${scope.extraBody}\0`;
  return createHash('sha256')
    .update(`${scope.host}\0${scope.model}\0${scope.dimensions ?? ''}\0${typed}${extra}`)
    .update(text)
    .digest('hex');
}

/** Options for `createMemoryCache()`. */
export interface MemoryCacheOptions {
  /**
   * Upper bound on the bytes of vectors held; the least recently used go first.
   * @unit bytes
   * @default 67108864 (64 MiB: about 10,900 vectors of 1536 dimensions)
   */
  maxBytes?: number;
}

const MEMORY_CACHE_DEFAULTS = { maxBytes: 64 * 1024 * 1024 } as const;

/**
 * An in-process LRU store (on lru-cache) bounded by bytes. It copies vectors in and out,
 * so callers that modify a returned vector never corrupt the cache.
 * @example
 * const cache = createMemoryCache();
 * await client.embeddings.createMany({ model, input }, { cache });
 * await client.embeddings.createMany({ model, input }, { cache }); // sends nothing
 */
export function createMemoryCache(options: MemoryCacheOptions = {}): EmbeddingCache {
  const maxBytes = options.maxBytes ?? MEMORY_CACHE_DEFAULTS.maxBytes;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new InvalidArgumentError(`\`maxBytes\` must be an integer ≥ 1 (got ${String(maxBytes)})`);
  }
  const store = new LRUCache<string, Float32Array>({
    maxSize: maxBytes,
    sizeCalculation: (vector) => Math.max(1, vector.byteLength),
  });
  return {
    async get(keys) {
      return keys.map((key) => {
        const vector = store.get(key);
        return vector === undefined ? undefined : vector.slice();
      });
    },
    async set(entries) {
      for (const [key, vector] of entries) {
        // A vector larger than the whole budget is skipped by lru-cache rather than stored.
        if (vector.byteLength <= maxBytes) store.set(key, vector.slice());
      }
    },
  };
}
