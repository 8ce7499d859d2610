/**
 * `createKeyvCache()`: an `EmbeddingCache` over any keyv store (SQLite, Postgres, MySQL, Redis,
 * MongoDB, memory...), so a backend keyv already speaks needs no code here. keyv is not a
 * dependency: the store is taken by its shape.
 */
import { InvalidArgumentError } from '../errors.js';
import type { EmbeddingCache } from './cache.js';
import { encodeFloat32Bytes, storedVector } from './cache-bytes.js';
import { strictBase64ByteLength } from '../decode.js';

/**
 * The part of a keyv 5 instance `createKeyvCache()` uses: `new Keyv(...)` fits as it is.
 * `getMany` and `setMany` are used when present, else one `get` or `set` per key, all at once.
 */
export interface KeyvStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: Buffer): Promise<unknown>;
  getMany?(keys: string[]): Promise<unknown[]>;
  setMany?(entries: { key: string; value: Buffer }[]): Promise<unknown>;
}

/** keyv's default serializer writes a Buffer as this prefix and its base64, in a JSON string. */
const KEYV_BASE64_PREFIX = ':base64:';

/**
 * An `EmbeddingCache` on a keyv instance. Each vector is written as a Buffer of its
 * little-endian float32 bytes: keyv's default serializer stores that as the string
 * `":base64:<bytes in base64>"` inside its JSON record (about 8.2 KB for 1536 dimensions, a
 * third of the floats as JSON text) and hands a Buffer back, bit for bit; a store keyv does not
 * serialize for keeps the bytes. Reads also accept a base64 string and JSON's
 * `{ type: 'Buffer', data: [...] }`, what a `JSON.stringify` serializer makes of a Buffer.
 * A value that is none of these, or not a whole number of finite float32s, is a miss.
 *
 * Expiry and the key namespace are the keyv instance's (`new Keyv({ ttl, namespace })`), and
 * so are store errors: keyv 5 emits a failed write, or a failed read of a store without
 * `getMany`, as an `'error'` event and answers a miss; a failed `getMany` of the store, or any
 * error under `throwOnErrors: true`, rejects, and the batch job stops with it (inputs not done
 * have no outcome; a rerun sends only what the cache lacks).
 * @example
 * import Keyv from 'keyv';
 * import KeyvSqlite from '@keyv/sqlite';
 * const cache = createKeyvCache(new Keyv({ store: new KeyvSqlite('sqlite://vectors.sqlite'), namespace: 'vectors' }));
 * await client.embeddings.createMany({ model, input }, { cache });
 */
export function createKeyvCache(keyv: KeyvStore): EmbeddingCache {
  if (typeof keyv?.get !== 'function' || typeof keyv.set !== 'function') {
    throw new InvalidArgumentError(
      `\`keyv\` must be a keyv instance, with get(key) and set(key, value) methods (got ${describe(keyv)})`,
    );
  }
  return {
    async get(keys) {
      const values =
        typeof keyv.getMany === 'function'
          ? await keyv.getMany(keys)
          : await Promise.all(keys.map((key) => keyv.get(key)));
      return keys.map((_key, i) => vectorOf(values[i]));
    },
    async set(entries) {
      if (typeof keyv.setMany === 'function') {
        await keyv.setMany(entries.map(([key, vector]) => ({ key, value: encodeFloat32Bytes(vector) })));
      } else {
        await Promise.all(entries.map(([key, vector]) => keyv.set(key, encodeFloat32Bytes(vector))));
      }
    },
  };
}

/** The vector a stored value holds, in any of the forms a keyv serializer may hand back. */
function vectorOf(value: unknown): Float32Array | undefined {
  if (value instanceof Uint8Array) return storedVector(value);
  if (typeof value === 'string') {
    const base64 = value.startsWith(KEYV_BASE64_PREFIX) ? value.slice(KEYV_BASE64_PREFIX.length) : value;
    const length = strictBase64ByteLength(base64);
    if (length <= 0) return undefined;
    const bytes = Buffer.from(base64, 'base64');
    return bytes.byteLength === length ? storedVector(bytes) : undefined;
  }
  if (isJsonBuffer(value)) return storedVector(Uint8Array.from(value.data));
  return undefined;
}

/** `{ type: 'Buffer', data: [0..255, ...] }`: `Buffer.prototype.toJSON()`, read back by `JSON.parse`. */
function isJsonBuffer(value: unknown): value is { type: 'Buffer'; data: number[] } {
  if (typeof value !== 'object' || value === null) return false;
  const { type, data } = value as { type?: unknown; data?: unknown };
  return (
    type === 'Buffer' &&
    Array.isArray(data) &&
    data.every((byte) => Number.isInteger(byte) && (byte as number) >= 0 && (byte as number) <= 255)
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object without them';
  return typeof value;
}
