import { writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { UsageError } from '../src/cli/io.js';
import { countRecords, inputFormat, openInput, readRecords } from '../src/cli/readers.js';
import type { InputFormat, InputRecord } from '../src/cli/readers.js';
import { tempDir } from './cli-helpers.js';

const names = { idField: 'id', textField: 'text', idColumn: 'id', textColumn: 'text' };
const dir = tempDir();
afterAll(() => dir.remove());

async function collect(records: AsyncIterable<InputRecord>): Promise<InputRecord[]> {
  const all: InputRecord[] = [];
  for await (const record of records) all.push(record);
  return all;
}

function chunks(...parts: string[]): Readable {
  return Readable.from(parts.map((part) => Buffer.from(part)));
}

describe('inputFormat', () => {
  test.each([
    ['a.txt', undefined, 'txt'],
    ['a.JSONL', undefined, 'jsonl'],
    ['a.ndjson', undefined, 'jsonl'],
    ['a.csv', undefined, 'csv'],
    ['a.csv', 'txt', 'txt'],
    ['-', undefined, undefined],
    ['-', 'csv', 'csv'],
  ] as const)('%s with --format %s is %s', (path, explicit, expected) => {
    expect(inputFormat(path, explicit)).toBe(expected);
  });

  test('an unknown extension without --format is a UsageError naming the path', () => {
    expect(() => inputFormat('notes.md', undefined)).toThrow(UsageError);
    expect(() => inputFormat('notes.md', undefined)).toThrow(/'notes.md'.*--format txt\|jsonl\|csv/);
  });
});

describe('stdin sniffing', () => {
  test.each([
    [['{"id":1,', '"text":"a"}\n'], 'jsonl'],
    [['\n  \n', '  {"text":"a"}\n'], 'jsonl'],
    [['plain ', 'words\n'], 'txt'],
    [[], 'txt'],
  ])('%j is read as %s, with nothing lost from the chunks it peeked at', async (parts, format) => {
    const opened = await openInput('-', undefined, chunks(...parts));
    expect(opened.format).toBe(format);
    let replayed = '';
    for await (const chunk of opened.stream) replayed += chunk.toString();
    expect(replayed).toBe(parts.join(''));
  });
});

describe('readRecords', () => {
  test('txt: every line is an input, blank ones included, so line numbers stay ids', async () => {
    expect(await collect(readRecords(chunks('a\n', '\nb\r', '\nc'), 'txt', names))).toEqual([
      { id: '1', text: 'a' },
      { id: '2', text: '' },
      { id: '3', text: 'b' },
      { id: '4', text: 'c' },
    ]);
  });

  test('jsonl: a line split across chunks is one record; blank lines are not records', async () => {
    expect(await collect(readRecords(chunks('{"id":"a","te', 'xt":"x"}\n\n{"text":"y"}\n'), 'jsonl', names))).toEqual([
      { id: 'a', text: 'x' },
      { id: '3', text: 'y' },
    ]);
  });

  test.each([
    ['{"id":true,"text":"x"}', { id: '1', error: "line 1: 'id' must be a string or a number (got a boolean)" }],
    ['{"id":{},"text":"x"}', { id: '1', error: "line 1: 'id' must be a string or a number (got an object)" }],
    ['{"id":"k","text":5}', { id: 'k', error: "line 1: 'text' must be a string (got a number)" }],
    ['{"id":"k","text":null}', { id: 'k', error: "line 1: 'text' must be a string (got null)" }],
    ['{"id":"k","text":["a"]}', { id: 'k', error: "line 1: 'text' must be a string (got an array)" }],
    ['"just a string"', { id: '1', error: 'line 1: expected a JSON object' }],
  ])('jsonl: %s becomes a failure record', async (line, record) => {
    expect(await collect(readRecords(chunks(`${line}\n`), 'jsonl', names))).toEqual([record]);
  });

  test('csv: a row with too few fields is a failure record', async () => {
    expect(await collect(readRecords(chunks('id,extra,text\nr1,x,hello\nr2\n'), 'csv', names))).toEqual([
      { id: 'r1', text: 'hello' },
      { id: 'r2', error: 'row 2: has 1 fields, too few for the header' },
    ]);
  });

  test('csv: an unclosed quote is a UsageError from csv-parse', async () => {
    await expect(collect(readRecords(chunks('text\n"never closed\n'), 'csv', names))).rejects.toThrow(/cannot parse CSV: .*quote/i);
  });
});

describe('countRecords', () => {
  test.each([
    ['txt', 'a\n\nb\n', 3],
    ['txt', 'no newline at the end', 1],
    ['jsonl', '{"text":"a"}\n\n{"text":"b"}\n', 2],
    ['csv', 'text\n"two\nlines"\nthree\n', 2],
  ] as const)('%s %j holds %d records, as many as readRecords yields', async (format: InputFormat, content, count) => {
    const path = dir.path(`count-${format}-${count}.${format}`);
    writeFileSync(path, content);
    expect(await countRecords(path, format, names)).toBe(count);
    expect(await collect(readRecords(chunks(content), format, names))).toHaveLength(count);
  });
});
