/** The byte format the shared caches store (src/batch/cache-bytes.ts): little-endian float32, nothing else. */
import { describe, expect, test } from 'vitest';
import { decodeFloat32BytesForHost, encodeFloat32BytesForHost } from '../src/batch/cache-bytes.js';
import { decodeFloat32Bytes, encodeFloat32Bytes, storedVector } from '../src/index.js';
import { bitsOf, EDGE_VECTOR } from './support/cache-wire.js';

describe('encodeFloat32Bytes', () => {
  test('writes each value as 4 little-endian bytes, whatever the host', () => {
    const expected = Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]); // 1, -2
    expect(encodeFloat32Bytes(Float32Array.of(1, -2))).toEqual(expected);
    expect(encodeFloat32BytesForHost(Float32Array.of(1, -2), false)).toEqual(expected);
    expect(encodeFloat32Bytes([1, -2])).toEqual(expected);
  });

  test('copies: changing the vector afterwards does not change the bytes', () => {
    const vector = Float32Array.of(1, 2);
    const bytes = encodeFloat32Bytes(vector);
    vector[0] = 5;
    expect(decodeFloat32Bytes(bytes)).toEqual(Float32Array.of(1, 2));
  });

  test('encodes a view at an offset of a larger buffer', () => {
    const view = new Float32Array(Float32Array.of(9, 1, 2).buffer, 4, 2);
    expect(decodeFloat32Bytes(encodeFloat32Bytes(view))).toEqual(Float32Array.of(1, 2));
  });
});

describe('decodeFloat32Bytes', () => {
  test.each([true, false])('round-trips special values bit for bit (little-endian host: %s)', (littleEndian) => {
    const bytes = encodeFloat32BytesForHost(EDGE_VECTOR, littleEndian);
    expect(bitsOf([decodeFloat32BytesForHost(bytes, littleEndian)])).toEqual(bitsOf([EDGE_VECTOR]));
  });

  test('reads bytes at an odd offset of a pooled buffer into a vector of its own', () => {
    const pool = Buffer.concat([Buffer.from([7]), encodeFloat32Bytes(Float32Array.of(1.5, -3))]);
    const decoded = decodeFloat32Bytes(pool.subarray(1));
    expect(decoded).toEqual(Float32Array.of(1.5, -3));
    expect(decoded.buffer).not.toBe(pool.buffer);
  });

  test('refuses a length that is not a multiple of 4', () => {
    expect(() => decodeFloat32Bytes(Buffer.alloc(6))).toThrow(
      new RangeError('float32 bytes must be a multiple of 4 long (got 6)'),
    );
  });
});

describe('storedVector', () => {
  test.each([
    ['empty', Buffer.alloc(0)],
    ['7 bytes', Buffer.alloc(7)],
    ['a NaN', encodeFloat32Bytes([1, Number.NaN])],
    ['-Infinity', encodeFloat32Bytes([Number.NEGATIVE_INFINITY])],
  ])('is undefined for %s', (_what, bytes) => {
    expect(storedVector(bytes)).toBeUndefined();
  });

  test('is the vector for whole, finite float32 bytes', () => {
    expect(storedVector(encodeFloat32Bytes(EDGE_VECTOR))).toEqual(EDGE_VECTOR);
  });
});
