import { describe, expect, test } from 'vitest';
import { decodeBase64Float32, strictBase64ByteLength } from '../src/decode.js';
import { readResponse } from '../src/response.js';
import { answerFor, requestOptions } from './support/answers.js';

// Sixteen characters are twelve bytes, three floats: each string below decoded to those three
// floats before, because Node's decoder skips what it does not know and reads base64url too.
const valid = Buffer.from(new Float32Array([0.5, -0.25, 1]).buffer).toString('base64');

describe('base64 vectors are checked for length, padding and alphabet', () => {
  test.each([
    ['a character outside the alphabet at the end', `${valid}*`],
    ['a stray character at the end', `${valid}A`],
    ['a base64url minus', `${valid.slice(0, -1)}-`],
    ['a base64url underscore', `_${valid.slice(1)}`],
    ['a space inside', `${valid.slice(0, 8)} ${valid.slice(8)}`],
    ['padding that is not at the end of a multiple of 4', `${valid}A=`],
  ])('%s is refused', (_name, text) => {
    expect(valid).toHaveLength(16);
    expect(() => decodeBase64Float32(text)).toThrow(RangeError);
    const body = `{"data":[{"index":0,"embedding":"${text}"}],"model":"m"}`;
    expect(() =>
      readResponse(
        '/embeddings',
        answerFor([Buffer.from(body)], { model: 'm', input: 'a' }, requestOptions('float32')),
        { model: 'm', input: 'a' },
        requestOptions('float32'),
      ),
    ).toThrow(/data\[0\]\.embedding: not base64/);
  });

  test('the lengths base64 can have are read, padded or not', () => {
    expect(strictBase64ByteLength('AAAA')).toBe(3);
    expect(strictBase64ByteLength('AAAAAA==')).toBe(4);
    expect(strictBase64ByteLength('AAAAAA')).toBe(4);
    expect(strictBase64ByteLength('AAAAAAA')).toBe(5);
    expect(strictBase64ByteLength('AAAAA')).toBe(-1);
    expect(strictBase64ByteLength('AAAAAA=')).toBe(-1);
    expect(Array.from(decodeBase64Float32(valid))).toEqual([0.5, -0.25, 1]);
  });
});
