import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { NPY_HEADER_BYTES, npyHeader, parseNpyHeader } from '../src/cli/npy.js';
import { openOutput } from '../src/cli/open-output.js';
import { UsageError } from '../src/cli/io.js';
import { readJsonl, readNpy, tempDir } from './support/cli-helpers.js';

const dir = tempDir();
afterAll(() => dir.remove());
const fresh = { resume: false, overwrite: false, dimensions: undefined, model: 'm' };

describe('npy header', () => {
  test('is 128 bytes (a multiple of 64), version 1.0, ends in a newline, and parses back', () => {
    const header = npyHeader(123_456_789, 1536);
    expect(header.length).toBe(NPY_HEADER_BYTES);
    expect(NPY_HEADER_BYTES % 64).toBe(0);
    expect([...header.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    expect(header.readUInt16LE(8)).toBe(NPY_HEADER_BYTES - 10);
    expect(header.at(-1)).toBe(0x0a);
    expect(parseNpyHeader(header)).toEqual({ dataOffset: 128, rows: 123_456_789, dimensions: 1536 });
  });

  test('holds the largest safe row count', () => {
    expect(parseNpyHeader(npyHeader(Number.MAX_SAFE_INTEGER, 3072)).rows).toBe(Number.MAX_SAFE_INTEGER);
  });

  test.each([
    ["'descr': '<f8'", /dtype must be '<f4'/],
    ["'fortran_order': True", /C order/],
    ["'shape': (2, 3, 4)", /shape must be \(rows, dimensions\)/],
  ])('rejects a header with %s', (field, message) => {
    const good = npyHeader(2, 3).toString('latin1');
    const key = field.split(':')[0]!;
    const bad = good.replace(new RegExp(`${key}: [^,]*(, \\d+\\))?`), field).padEnd(good.length, ' ');
    expect(() => parseNpyHeader(Buffer.from(bad, 'latin1'))).toThrow(message);
  });
});

describe('jsonl writer', () => {
  test('writes 9 significant digits, which give back every float32 exactly', async () => {
    const path = dir.path('digits.jsonl');
    const output = await openOutput(path, fresh);
    const vector = new Float32Array(1000);
    for (let i = 0; i < vector.length; i++)
      vector[i] = Math.fround((Math.sin(i * 12.9898) * 43758.5453) % 1) / (1 + (i % 7) * 1000);
    output.write('v', vector);
    output.close();
    const [record] = readJsonl(path);
    expect(record!.embedding.map((x) => Math.fround(x))).toEqual([...vector]);
  });

  test('a vector of another length is an error naming the id and both lengths', async () => {
    const output = await openOutput(dir.path('mixed.jsonl'), fresh);
    output.write('a', [0.6, 0.8]);
    expect(() => output.write('b', [1, 0, 0])).toThrow("the vector for id 'b' has 3 dimensions but");
    output.close();
  });

  test('writes are queued and land together on the next turn of the event loop', async () => {
    const path = dir.path('queued.jsonl');
    const output = await openOutput(path, fresh);
    output.write('a', [1]);
    output.write('b', [1]);
    expect(readFileSync(path, 'utf8')).toBe('');
    await new Promise((resolve) => setImmediate(resolve));
    expect(readFileSync(path, 'utf8')).toBe(
      '{"id":"a","embedding":[1.00000000]}\n{"id":"b","embedding":[1.00000000]}\n',
    );
    output.close();
  });
});

describe('npy writer', () => {
  test('rows land as they come and the header always states the rows written so far', async () => {
    const path = dir.path('rows.npy');
    const output = await openOutput(path, fresh);
    output.write('a', [1, 2]);
    output.flush();
    expect(readNpy(path).shape).toEqual([1, 2]);
    output.write('b', new Float32Array([3, 4]));
    output.close();
    const npy = readNpy(path);
    expect(npy.shape).toEqual([2, 2]);
    expect([...npy.data]).toEqual([1, 2, 3, 4]);
    expect(readFileSync(`${path}.ids.txt`, 'utf8')).toBe('a\nb\n');
  });

  test('refuses ids with a line break, which the ids file cannot hold', async () => {
    const output = await openOutput(dir.path('ids.npy'), fresh);
    expect(output.accepts('two\nlines')).toMatch(/line break/);
    expect(output.accepts('fine')).toBeUndefined();
    output.close();
  });

  test('an existing file that is not a .npy cannot be resumed', async () => {
    const path = dir.path('bogus.npy');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, Buffer.alloc(200, 0x41));
    await expect(openOutput(path, { ...fresh, resume: true })).rejects.toThrow(UsageError);
    await expect(openOutput(path, { ...fresh, resume: true })).rejects.toThrow(/cannot resume .*bad magic/);
  });

  test('the output extension must be .jsonl or .npy', async () => {
    await expect(openOutput(dir.path('x.csv'), fresh)).rejects.toThrow("--out '");
  });
});
