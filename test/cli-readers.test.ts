import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeInput } from '../src/cli/encoding.js';
import { UsageError } from '../src/cli/io.js';
import { countRecords, inputFormat, openInput, readRecords } from '../src/cli/readers.js';
import type { InputFormat, InputRecord } from '../src/cli/readers.js';
import { createServer } from '../src/server/index.js';
import type { LocalServer } from '../src/server/index.js';
import { buildCli, expectVectorsOf, readJsonl, tempDir, until } from './support/cli-helpers.js';

const names = { idField: 'id', textField: 'text', idColumn: 'id', textColumn: 'text' };
const dir = tempDir();
afterAll(() => dir.remove());

async function collect(records: AsyncIterable<InputRecord>): Promise<InputRecord[]> {
  const all: InputRecord[] = [];
  for await (const record of records) all.push(record);
  return all;
}

function chunks(...parts: (string | Buffer)[]): Readable {
  return Readable.from(parts.map((part) => Buffer.from(part)));
}

/** Every way of cutting `bytes` into two reads, plus one read per byte. */
function splits(bytes: Buffer): Buffer[][] {
  const all = [[bytes], [...bytes].map((byte) => Buffer.from([byte]))];
  for (let at = 1; at < bytes.length; at++) all.push([bytes.subarray(0, at), bytes.subarray(at)]);
  return all;
}

async function decoded(parts: Buffer[], source = "input 'x.txt'"): Promise<string> {
  const out: Buffer[] = [];
  for await (const chunk of decodeInput(Readable.from(parts), source)) out.push(chunk as Buffer);
  return Buffer.concat(out).toString('utf8');
}

/** What was passed on before the error, and the error. */
async function decodedUntilError(parts: Buffer[]): Promise<{ text: string; error: unknown }> {
  const out: Buffer[] = [];
  try {
    for await (const chunk of decodeInput(Readable.from(parts), "input 'x.txt'")) out.push(chunk as Buffer);
  } catch (error) {
    return { text: Buffer.concat(out).toString('utf8'), error };
  }
  throw new Error('expected the input to be refused');
}

const UNICODE = 'caf\u00e9 \u20ac5\n\u{1F600} na\u00efve\r\nend';
const LATIN1_HINT = 'if it is Latin-1 text, convert it first with iconv -f latin1 -t utf-8';

describe('decodeInput', () => {
  test('a character split between two reads (at every point) still decodes', async () => {
    for (const parts of splits(Buffer.from(UNICODE))) expect(await decoded(parts)).toBe(UNICODE);
  });

  test('a UTF-8 byte-order mark is skipped, however the reads cut it', async () => {
    for (const parts of splits(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('hi\n')]))) {
      expect(await decoded(parts)).toBe('hi\n');
    }
  });

  test.each(['LE', 'BE'] as const)(
    'UTF-16%s with a byte-order mark is decoded, surrogate pairs split anywhere',
    async (order) => {
      const le = Buffer.from(UNICODE, 'utf16le');
      const body = order === 'LE' ? le : Buffer.from(le).swap16();
      const bom = order === 'LE' ? [0xff, 0xfe] : [0xfe, 0xff];
      for (const parts of splits(Buffer.concat([Buffer.from(bom), body]))) expect(await decoded(parts)).toBe(UNICODE);
    },
  );

  test('Latin-1 is refused naming the input, the line, the byte offset and the byte, with the iconv command', async () => {
    const latin1 = Buffer.from('first line\nsecond\ncaf\u00e9 au lait\nlast\n', 'latin1');
    for (const parts of splits(latin1)) {
      const { text, error } = await decodedUntilError(parts);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(
        `input 'x.txt' is not valid UTF-8: byte 0xe9 on line 3 at byte offset 21; ${LATIN1_HINT}`,
      );
      // Nothing from the bad byte on is passed on; from the read that holds it, the complete lines before it are.
      expect('first line\nsecond\ncaf'.startsWith(text)).toBe(true);
      if (parts.length === 1) expect(text).toBe('first line\nsecond\n');
    }
  });

  test.each([
    ['an overlong encoding', [0x41, 0xc0, 0x80], 1],
    ['a UTF-16 surrogate encoded as UTF-8', [0x41, 0x0a, 0xed, 0xa0, 0x80], 2],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['a stray continuation byte', [0x41, 0x41, 0x80], 2],
    ['a character cut off by the end of the input', [0x41, 0xe2, 0x82], 1],
  ])('%s is refused at its first byte', async (_name, bytes, offset) => {
    for (const parts of splits(Buffer.from(bytes))) {
      const { error } = await decodedUntilError(parts);
      expect((error as Error).message).toMatch(
        new RegExp(`^input 'x.txt' is not valid UTF-8: byte 0x[0-9a-f]{2} on line \\d at byte offset ${offset};`),
      );
    }
  });

  test('a NUL byte (UTF-16 without its byte-order mark) is refused, suggesting the conversion', async () => {
    const { error } = await decodedUntilError([Buffer.from('ok\n', 'utf8'), Buffer.from('hi', 'utf16le')]);
    expect((error as Error).message).toBe(
      "input 'x.txt' is not text: a NUL byte on line 2 at byte offset 4; if it is UTF-16 without a byte-order mark, convert it first with iconv -f UTF-16LE -t UTF-8",
    );
  });

  test('UTF-16 with an unpaired surrogate or an odd length is refused, naming the offset', async () => {
    const lone = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from('a\nb', 'utf16le'),
      Buffer.from([0x00, 0xd8]),
      Buffer.from('c', 'utf16le'),
    ]);
    expect(((await decodedUntilError([lone])).error as Error).message).toBe(
      "input 'x.txt' starts with a UTF-16LE byte-order mark but is not valid UTF-16: unpaired surrogate 0xd800 on line 2 at byte offset 8",
    );
    const odd = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from([0x00, 0x61, 0x00])]);
    expect(((await decodedUntilError([odd])).error as Error).message).toBe(
      "input 'x.txt' starts with a UTF-16BE byte-order mark but is not valid UTF-16: it ends in half a character (an odd number of bytes) on line 1 at byte offset 4",
    );
  });
});

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
    await expect(collect(readRecords(chunks('text\n"never closed\n'), 'csv', names))).rejects.toThrow(
      /cannot parse CSV: .*quote/i,
    );
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

// What a user's shell does: the bundled binary, a local server counting what reaches it.
describe('input that is not UTF-8, through the built binary', { timeout: 60_000 }, () => {
  let cli: string;
  let server: LocalServer;
  let url: string;
  beforeAll(async () => {
    cli = await buildCli();
    server = createServer({ dimensions: 64 });
    ({ url } = await server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await server?.close();
    if (cli) rmSync(dirname(cli), { recursive: true, force: true });
  });

  /** Runs `embedrail embed`; `feed` writes stdin. Resolves with the exit and what reached the server. */
  async function embed(
    args: string[],
    feed: (stdin: NodeJS.WritableStream) => Promise<void> | void = (s) => void s.end(),
  ) {
    const before = { ...server.stats };
    const child = spawn(process.execPath, [cli, 'embed', ...args, '--base-url', url], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    await feed(child.stdin);
    const code = await exit;
    return {
      code,
      stderr,
      requests: server.stats.embeddings - before.embeddings,
      inputs: server.stats.inputs - before.inputs,
    };
  }

  const latin1 = (text: string) => Buffer.from(text, 'latin1');
  const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => ((i * 7919 + 13) % 251) | 0x80));
  test.each([
    ['latin1.txt', latin1('one\ntwo\ncaf\u00e9\n'), 'not valid UTF-8: byte 0xe9 on line 3 at byte offset 11'],
    [
      'latin1.jsonl',
      latin1('{"text":"one"}\n{"text":"na\u00efve"}\n'),
      'not valid UTF-8: byte 0xef on line 2 at byte offset 26',
    ],
    [
      'latin1.csv',
      latin1('id,text\na,one\nb,\u00e0 la carte\n'),
      'not valid UTF-8: byte 0xe0 on line 3 at byte offset 16',
    ],
    ['random.txt', random, 'not valid UTF-8: byte 0x8d on line 1 at byte offset 0'],
    // Far beyond the first read: the counting pass sees the whole file before anything is sent.
    [
      'late.txt',
      Buffer.concat([Buffer.from('fine line\n'.repeat(20_000)), latin1('\u00e9\n')]),
      'not valid UTF-8: byte 0xe9 on line 20001 at byte offset 200000',
    ],
  ])('%s: exit 2 naming the file, line and byte offset, 0 requests, no output left', async (name, bytes, problem) => {
    const input = dir.path(name);
    writeFileSync(input, bytes);
    const out = dir.path(`${name}.out.jsonl`);
    const result = await embed([input, '--out', out]);
    expect(result.stderr).toBe(`embedrail: input '${input}' is ${problem}; ${LATIN1_HINT}\n`);
    expect(result.code).toBe(2);
    expect(result.requests).toBe(0);
    expect(existsSync(out)).toBe(false);
  });

  test.each([
    ['stdin, sniffed', []],
    ['stdin, --format txt', ['--format', 'txt']],
  ])('Latin-1 on %s: exit 2 naming stdin, 0 requests', async (_name, flags) => {
    const out = dir.path(`stdin-${flags.length}.jsonl`);
    const result = await embed(['-', '--out', out, ...flags], (stdin) => void stdin.end(latin1('\u00e9t\u00e9\n')));
    expect(result.stderr).toBe(
      `embedrail: stdin is not valid UTF-8: byte 0xe9 on line 1 at byte offset 0; ${LATIN1_HINT}\n`,
    );
    expect(result.code).toBe(2);
    expect(result.requests).toBe(0);
  });

  const TEXTS = { k1: 'caf\u00e9 cr\u00e8me', k2: '\u{1F600} smile' };
  const JSONL = Object.entries(TEXTS)
    .map(([id, text]) => `${JSON.stringify({ id, text })}\n`)
    .join('');
  test.each([
    ['utf16le.txt', 'LE', `${TEXTS.k1}\r\n${TEXTS.k2}\r\n`, { 1: TEXTS.k1, 2: TEXTS.k2 }],
    ['utf16be.csv', 'BE', `id,text\nk1,${TEXTS.k1}\nk2,${TEXTS.k2}\n`, TEXTS],
    ['utf16le.jsonl', 'LE', JSONL, TEXTS],
    ['-', 'LE', JSONL, TEXTS],
  ] as const)(
    'UTF-16 with a byte-order mark (%s, %s) is decoded and embedded as its text',
    async (name, order, content, texts) => {
      const le = Buffer.from(content, 'utf16le');
      const bytes = Buffer.concat([
        Buffer.from(order === 'LE' ? [0xff, 0xfe] : [0xfe, 0xff]),
        order === 'LE' ? le : Buffer.from(le).swap16(),
      ]);
      const input = name === '-' ? '-' : dir.path(name);
      if (input !== '-') writeFileSync(input, bytes);
      const out = dir.path(`${name}-${order}.out.jsonl`);
      const result = await embed(
        [input, '--out', out],
        (stdin) => void (input === '-' ? stdin.end(bytes) : stdin.end()),
      );
      expect(result.stderr).toMatch(/^embedrail: 2 embedded, 0 failed/);
      expect(result.code).toBe(0);
      expectVectorsOf(readJsonl(out), texts);
    },
  );

  test('a bad line on stdin after requests began: the lines before it are embedded, it and what follows are not, exit 2', async () => {
    const out = dir.path('stdin-late.jsonl');
    const result = await embed(['-', '--out', out], async (stdin) => {
      stdin.write('first words\nsecond words\n');
      // Wait (bounded) until the engine, idle on a silent pipe, has sent the two lines.
      const before = server.stats.inputs;
      await until(() => server.stats.inputs >= before + 2, 1000);
      stdin.end(Buffer.concat([latin1('caf\u00e9\n'), Buffer.from('never sent\n')]));
    });
    expect(result.stderr).toBe(
      `embedrail: stdin is not valid UTF-8: byte 0xe9 on line 3 at byte offset 28; ${LATIN1_HINT}; ` +
        `the 2 inputs embedded before it are kept in '${out}': fix the input and rerun with --resume to embed the rest\n`,
    );
    expect(result.code).toBe(2);
    expect(result.inputs).toBe(2);
    expectVectorsOf(readJsonl(out), { 1: 'first words', 2: 'second words' });
  });
});
