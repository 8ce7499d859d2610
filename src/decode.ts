import { endianness } from 'node:os';

export const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * Bytes that `base64` encodes, from its length alone. Node's decoder skips characters outside
 * the alphabet, so decoding fewer bytes than this means the string was not base64 (a server
 * that put text where the vector belongs), and the bytes that remain would be garbage.
 */
export function base64ByteLength(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.floor(((base64.length - padding) * 3) / 4);
}

/**
 * Bytes that `base64` decodes to when it is standard base64, or -1 when its length, padding
 * or alphabet say it is not. Node's decoder skips characters outside the alphabet and reads
 * base64url's `-` and `_` too, so it cannot be asked; a decode is then proved whole when it
 * writes exactly this many bytes: with padding only on a length that is a multiple of 4 and
 * no unpadded length of 4k + 1 (which no base64 string has), every skipped character lowers
 * the byte count, so an equal count means every character was in the alphabet.
 */
export function strictBase64ByteLength(base64: string): number {
  if (base64.includes('-') || base64.includes('_')) return -1;
  return validLengthBase64Bytes(base64);
}

/**
 * {@link strictBase64ByteLength} for a text already known to hold neither `-` nor `_` (the
 * response reader looks for them in each chunk's bytes once): its length and padding alone.
 */
export function validLengthBase64Bytes(base64: string): number {
  const { length } = base64;
  if (base64.endsWith('=') ? length % 4 !== 0 : length % 4 === 1) return -1;
  return base64ByteLength(base64);
}

/**
 * Decodes a base64 string of little-endian float32 values, what `create({ encoding_format:
 * 'base64' })` hands back and a server sends for `encoding_format: "base64"`.
 * The result owns a fresh ArrayBuffer: never a view into Node's shared Buffer pool, which
 * small `Buffer.from()` calls return and which other code may overwrite.
 * @throws RangeError when the string is not base64 or its byte length is not a multiple of 4.
 * @example
 * const res = await client.embeddings.create({ model, input: 'hi', encoding_format: 'base64' });
 * const vector = decodeBase64Float32(res.data[0].embedding); // Float32Array
 */
export function decodeBase64Float32(base64: string): Float32Array {
  return decodeBase64Float32ForHost(base64, LITTLE_ENDIAN_HOST);
}

/**
 * Encodes float32 values as little-endian base64, the inverse of {@link decodeBase64Float32}:
 * the body of an `encoding_format: "base64"` answer, as the local server writes it.
 */
export function encodeFloat32Base64(vector: ArrayLike<number>): string {
  return encodeFloat32Base64ForHost(vector, LITTLE_ENDIAN_HOST);
}

/**
 * {@link decodeBase64Float32} for a host of the given byte order; tests run the big-endian path
 * on any machine through it.
 */
export function decodeBase64Float32ForHost(base64: string, littleEndianHost: boolean): Float32Array {
  const expected = strictBase64ByteLength(base64);
  const bytes = Buffer.from(base64, 'base64');
  if (expected === -1 || bytes.byteLength !== expected) {
    throw new RangeError(`not base64 (${JSON.stringify(base64.slice(0, 40))})`);
  }
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(`base64 vector has ${bytes.byteLength} bytes, not a multiple of 4`);
  }
  return float32FromLittleEndian(bytes, littleEndianHost);
}

/** The float32 values little-endian `bytes` hold (a whole number of 4), in memory of their own. */
export function float32FromLittleEndian(bytes: Uint8Array, littleEndianHost: boolean): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  if (littleEndianHost) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** `vector` as little-endian float32 bytes, in a Buffer of their own. */
export function float32ToLittleEndian(vector: ArrayLike<number>, littleEndianHost: boolean): Buffer {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  if (littleEndianHost && vector instanceof Float32Array) {
    bytes.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  } else {
    for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  }
  return bytes;
}

/** {@link encodeFloat32Base64} for a host of the given byte order. */
export function encodeFloat32Base64ForHost(vector: ArrayLike<number>, littleEndianHost: boolean): string {
  if (littleEndianHost && vector instanceof Float32Array) {
    return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
  }
  return float32ToLittleEndian(vector, littleEndianHost).toString('base64');
}

/**
 * Index of the first element that is not a finite number, or -1. One tight loop instead
 * of a schema per float: a 2048 × 1536 response holds three million of them.
 */
export function firstNonFinite(vector: ArrayLike<unknown>): number {
  for (let i = 0; i < vector.length; i++) {
    const value = vector[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) return i;
  }
  return -1;
}

/**
 * Scales `vector` in place to L2 norm 1; a zero vector stays zero (no NaN). Call it on finite
 * values: a Float32Array holding a NaN or an infinity is left as it is.
 */
export function normalizeInPlace<T extends number[] | Float32Array>(vector: T): T {
  if (vector instanceof Float32Array) {
    scaleRow(vector, 0, vector.length, true);
    return vector;
  }
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  // Float JSON may carry doubles whose squares overflow to Infinity (the vector would become
  // zeros) or underflow to 0 (it would stay unscaled): divide by the largest magnitude first.
  if (sum === Infinity || sum < 1e-290) {
    let max = 0;
    for (let i = 0; i < vector.length; i++) max = Math.max(max, Math.abs(vector[i]!));
    if (max === 0) return vector;
    sum = 0;
    for (let i = 0; i < vector.length; i++) sum += (vector[i]! / max) ** 2;
    // max × √sum may itself overflow; dividing twice keeps every step in range.
    const root = Math.sqrt(sum);
    for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! / max / root;
    return vector;
  }
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! * scale;
  return vector;
}

/**
 * How far a row's sum of squares may be from 1 and the row still count as normalised: 2⁻²¹,
 * a length within about 2⁻²² (two float32 steps at 1.0) of 1. A vector normalised in double
 * precision and rounded to float32, as OpenAI's are, lands within 2⁻²³; our own scaling lands
 * no closer. A server that normalises in float32 arithmetic may land further out, and is scaled.
 */
export const UNIT_SQUARES_TOLERANCE = 2 ** -21;

/**
 * Checks the float32 row `floats[from..to)` and, when `normalize`, scales it in place to L2
 * norm 1: `false`, with nothing changed, when it holds a NaN or an infinity. The one scaling
 * of float32 vectors: the streaming reader runs it on each row while its bytes are in cache,
 * {@link normalizeInPlace} on a whole Float32Array, so both give the same floats to the bit.
 * Given Float32Arrays only, so its loops stay monomorphic (a number[] seen here once would
 * slow every later call); the squares are summed in four lanes, which do not wait on each
 * other's additions (about twice as fast as one running sum).
 */
export function scaleRow(floats: Float32Array, from: number, to: number, normalize: boolean): boolean {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let k = from;
  for (; k + 3 < to; k += 4) {
    const x0 = floats[k]!;
    const x1 = floats[k + 1]!;
    const x2 = floats[k + 2]!;
    const x3 = floats[k + 3]!;
    a += x0 * x0;
    b += x1 * x1;
    c += x2 * x2;
    d += x3 * x3;
  }
  for (; k < to; k++) a += floats[k]! * floats[k]!;
  const squares = a + b + (c + d);
  // A float32 squared stays within a double's range, and so does any real sum of them: a sum
  // that is not finite comes from a NaN or an infinity, one of 0 from a zero vector, which stays zero.
  if (!Number.isFinite(squares)) return false;
  // A zero vector stays zero, and one already of unit length within float32 rounding is left
  // as the server sent it: scaling it could not bring it closer to 1, only move its last bits.
  if (!normalize || squares === 0 || Math.abs(squares - 1) <= UNIT_SQUARES_TOLERANCE) return true;
  const scale = 1 / Math.sqrt(squares);
  for (k = from; k + 3 < to; k += 4) {
    floats[k] = floats[k]! * scale;
    floats[k + 1] = floats[k + 1]! * scale;
    floats[k + 2] = floats[k + 2]! * scale;
    floats[k + 3] = floats[k + 3]! * scale;
  }
  for (; k < to; k++) floats[k] = floats[k]! * scale;
  return true;
}

/** Copies float32 values into a plain array; about 7× faster than `Array.from` on typed arrays. */
export function toNumberArray(vector: Float32Array): number[] {
  const out = new Array<number>(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i]!;
  return out;
}
