/**
 * The byte format of embedrail's shared caches (Redis, keyv, disk): a vector is its float32
 * values, little-endian, and nothing else: no header, no JSON. 1536 dimensions are 6,144 bytes,
 * and a reader in any language gets them with one `frombuffer(..., '<f4')`.
 */
import { float32FromLittleEndian, float32ToLittleEndian, LITTLE_ENDIAN_HOST } from '../decode.js';

/**
 * A vector as little-endian float32 bytes, in a Buffer of its own (never a view of the vector,
 * which its owner may normalise in place later).
 * @example
 * await redis.set(key, encodeFloat32Bytes(vector));
 */
export function encodeFloat32Bytes(vector: ArrayLike<number>): Buffer {
  return encodeFloat32BytesForHost(vector, LITTLE_ENDIAN_HOST);
}

/**
 * Float32 values from little-endian bytes, the inverse of {@link encodeFloat32Bytes}. The result
 * owns a fresh ArrayBuffer: never a view into the bytes, which may sit in Node's shared Buffer
 * pool at an offset a Float32Array cannot start at.
 * @throws RangeError when the byte length is not a multiple of 4.
 */
export function decodeFloat32Bytes(bytes: Uint8Array): Float32Array {
  return decodeFloat32BytesForHost(bytes, LITTLE_ENDIAN_HOST);
}

/** {@link encodeFloat32Bytes} for a host of the given byte order; tests run the big-endian path through it. */
export function encodeFloat32BytesForHost(vector: ArrayLike<number>, littleEndianHost: boolean): Buffer {
  return float32ToLittleEndian(vector, littleEndianHost);
}

/** {@link decodeFloat32Bytes} for a host of the given byte order. */
export function decodeFloat32BytesForHost(bytes: Uint8Array, littleEndianHost: boolean): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(`float32 bytes must be a multiple of 4 long (got ${bytes.byteLength})`);
  }
  return float32FromLittleEndian(bytes, littleEndianHost);
}

/**
 * The vector `bytes` hold, or `undefined` when they cannot be one: empty, not a whole number of
 * float32 values (a truncated or foreign value), or holding NaN or ±Infinity, which no
 * embedding has and which random bytes read as float32 almost always contain. A cache answers
 * a miss for these, so the text is embedded again rather than given a wrong vector.
 */
export function storedVector(bytes: Uint8Array): Float32Array | undefined {
  if (bytes.byteLength === 0 || bytes.byteLength % 4 !== 0) return undefined;
  const vector = decodeFloat32Bytes(bytes);
  for (let i = 0; i < vector.length; i++) if (!Number.isFinite(vector[i]!)) return undefined;
  return vector;
}
