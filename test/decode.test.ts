import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  decodeBase64Float32,
  decodeBase64Float32ForHost,
  encodeFloat32Base64,
  encodeFloat32Base64ForHost,
  firstNonFinite,
  normalizeInPlace,
  scaleRow,
  toNumberArray,
  UNIT_SQUARES_TOLERANCE,
} from '../src/decode.js';
import { norm } from './support/vector-math.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/openai-recorded/${name}`, import.meta.url), 'utf8'));

describe('decodeBase64Float32', () => {
  test('reads little-endian float32 bytes', () => {
    // 1.0 = 0x3f800000, -2.0 = 0xc0000000, stored least significant byte first.
    const bytes = Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    expect(Array.from(decodeBase64Float32(bytes.toString('base64')))).toEqual([1, -2]);
  });

  test("matches OpenAI's float answer for the same request (recorded)", () => {
    const base64 = fixture('embeddings-base64-response.json').data[0].embedding as string;
    const floats = fixture('embeddings-float-response.json').data[0].embedding as number[];
    const decoded = decodeBase64Float32(base64);
    expect(decoded.length).toBe(floats.length);
    expect(decoded.length).toBe(256);
    for (let i = 0; i < floats.length; i++) expect(Math.abs(decoded[i]! - floats[i]!)).toBeLessThan(5e-9);
  });

  test('returns its own buffer, never a view into the shared Buffer pool', () => {
    const decoded = decodeBase64Float32(Buffer.from(new Float32Array([0.25, 0.5]).buffer).toString('base64'));
    expect(decoded.byteOffset).toBe(0);
    expect(decoded.buffer.byteLength).toBe(decoded.byteLength);
  });

  test.each([1, 2, 3, 5, 7])('rejects a byte length of %i (not a multiple of 4)', (length) => {
    expect(() => decodeBase64Float32(Buffer.alloc(length).toString('base64'))).toThrow(
      `base64 vector has ${length} bytes, not a multiple of 4`,
    );
  });

  test.each(['error: model overloaded', 'AAAA AAA=', 'AAAA=AAAAAAA', '===='])(
    'rejects %j, which is not base64, instead of decoding the characters it can read',
    (text) => {
      expect(() => decodeBase64Float32(text)).toThrow('not base64');
    },
  );

  test('accepts unpadded base64 of whole floats', () => {
    expect(Array.from(decodeBase64Float32('AACAPwAAAMA'))).toEqual([1, -2]);
  });

  test('decodes and encodes little-endian on a big-endian host too', () => {
    const vector = Float32Array.from([1, -2, 0.1, 3e38]);
    const base64 = encodeFloat32Base64(vector);
    expect(encodeFloat32Base64ForHost(vector, false)).toBe(base64);
    expect(encodeFloat32Base64ForHost(Array.from(vector), false)).toBe(base64);
    expect(decodeBase64Float32ForHost(base64, false)).toEqual(vector);
  });

  test('round-trips any float32 vector through encodeFloat32Base64', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { maxLength: 64 }), (values) => {
        const vector = Float32Array.from(values);
        expect(decodeBase64Float32(encodeFloat32Base64(vector))).toEqual(vector);
      }),
    );
  });
});

describe('firstNonFinite', () => {
  test.each([
    [[1, 2, 3], -1],
    [[1, Number.NaN], 1],
    [[Infinity], 0],
    [[0, '1'], 1],
    [[0, null], 1],
  ])('finds the first bad value in %j at %i', (vector, expected) => {
    expect(firstNonFinite(vector)).toBe(expected);
  });
});

describe('normalizeInPlace', () => {
  test('scales any non-zero vector to norm 1 within 1e-6', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 64 })
          .filter((v) => v.some((x) => Math.abs(x) > 1e-3)),
        fc.boolean(),
        (values, asFloat32) => {
          const vector = asFloat32 ? Float32Array.from(values) : values.slice();
          normalizeInPlace(vector);
          expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-6);
        },
      ),
    );
  });

  test('scales doubles whose squares overflow or underflow to norm 1 too', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 64 })
          .filter((v) => v.some((x) => x !== 0)),
        (values) => {
          const vector = normalizeInPlace(values.slice());
          expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-6);
        },
      ),
    );
    expect(normalizeInPlace([3e200, 4e200])).toEqual([0.6, 0.8]);
    expect(normalizeInPlace([3e-200, 4e-200])).toEqual([0.6, 0.8]);
  });

  test('leaves a zero vector zero, without NaN', () => {
    expect(normalizeInPlace([0, 0, 0])).toEqual([0, 0, 0]);
    expect(Array.from(normalizeInPlace(new Float32Array(4)))).toEqual([0, 0, 0, 0]);
  });
});

describe('toNumberArray', () => {
  test('copies every float32 value into a plain array', () => {
    const source = Float32Array.from([0.1, -2, 3.5]);
    const copy = toNumberArray(source);
    expect(Array.isArray(copy)).toBe(true);
    expect(copy).toEqual([source[0], -2, 3.5]);
  });
});

describe('scaleRow', () => {
  test('scales only its row to norm 1, as normalizeInPlace scales the same floats alone', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 70 }),
        fc.nat(5),
        (values, pad) => {
          const floats = new Float32Array(pad + values.length + pad).fill(7);
          floats.set(values, pad);
          expect(scaleRow(floats, pad, pad + values.length, true)).toBe(true);
          expect(Array.from(floats.subarray(pad, pad + values.length))).toEqual(
            Array.from(normalizeInPlace(Float32Array.from(values))),
          );
          expect([...floats.subarray(0, pad), ...floats.subarray(pad + values.length)]).toEqual(
            new Array(2 * pad).fill(7),
          );
          if (values.some((x) => x !== 0)) {
            expect(Math.abs(norm(floats.subarray(pad, pad + values.length)) - 1)).toBeLessThan(1e-6);
          }
        },
      ),
    );
  });

  test.each([NaN, Infinity, -Infinity])('refuses a row holding %d at any place, changing nothing', (bad) => {
    for (let at = 0; at < 9; at++) {
      const floats = Float32Array.from({ length: 9 }, (_, i) => i + 1);
      floats[at] = bad;
      const before = Array.from(floats);
      expect(scaleRow(floats, 0, 9, true)).toBe(false);
      expect(scaleRow(floats, 0, 9, false)).toBe(false);
      expect(Array.from(floats)).toEqual(before);
    }
  });

  test('leaves a row already of unit length within float32 rounding as it is, and scales one just outside', () => {
    // 1,536 floats of length 1 + 2⁻²³, inside the tolerance: scaling them would move their last bits.
    const values = Array.from({ length: 1536 }, (_, i) => Math.sin(i * 0.37) + 0.1);
    const length = Math.hypot(...values) / Math.sqrt(1 + 2 ** -22);
    const unit = Float32Array.from(values, (x) => x / length);
    const squares = unit.reduce((sum, x) => sum + x * x, 0);
    expect(Math.abs(squares - 1)).toBeLessThanOrEqual(UNIT_SQUARES_TOLERANCE);
    expect(unit.map((x) => x / Math.sqrt(squares))).not.toEqual(unit);
    const asSent = unit.slice();
    expect(scaleRow(unit, 0, unit.length, true)).toBe(true);
    expect(unit).toEqual(asSent);
    // Of length 1 + 2⁻²⁰, squares 1 + 2⁻¹⁹: scaled, to squares within 2⁻²¹ of 1.
    expect(UNIT_SQUARES_TOLERANCE).toBe(2 ** -21);
    const longer = asSent.map((x) => x * (1 + 2 ** -20));
    const before = longer.slice();
    expect(scaleRow(longer, 0, longer.length, true)).toBe(true);
    expect(longer).not.toEqual(before);
    expect(Math.abs(longer.reduce((sum, x) => sum + x * x, 0) - 1)).toBeLessThanOrEqual(2 ** -21);
  });

  test('leaves a zero row zero, and any row unscaled when not asked to normalise', () => {
    const zeros = new Float32Array(6);
    expect(scaleRow(zeros, 0, 6, true)).toBe(true);
    expect(Array.from(zeros)).toEqual([0, 0, 0, 0, 0, 0]);
    const row = Float32Array.from([3, 4]);
    expect(scaleRow(row, 0, 2, false)).toBe(true);
    expect(Array.from(row)).toEqual([3, 4]);
  });
});
