import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { decodeInput } from './encoding.js';
import { UsageError } from './io.js';

/** Input formats `embed` reads. */
export const INPUT_FORMATS = ['txt', 'jsonl', 'csv'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/**
 * One input as read: a text with its id, or, when the record itself is broken (bad JSON, no
 * text field), the id with the reason. Broken records are reported as failures, never dropped.
 */
export type InputRecord = { id: string; text: string } | { id: string; error: string };

/** Which fields or columns hold the id and the text. */
export interface FieldNames {
  /** @default 'id' */
  idField: string;
  /** @default 'text' */
  textField: string;
  /** @default 'id' */
  idColumn: string;
  /** @default 'text' */
  textColumn: string;
}

const EXTENSIONS: Record<string, InputFormat> = { '.txt': 'txt', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv' };

/**
 * The format of `path`: `--format` when given, else the extension. `undefined` for stdin
 * without `--format`, which {@link openInput} sniffs.
 */
export function inputFormat(path: string, explicit: InputFormat | undefined): InputFormat | undefined {
  if (explicit) return explicit;
  if (path === '-') return undefined;
  const format = EXTENSIONS[extname(path).toLowerCase()];
  if (!format) {
    throw new UsageError(
      `cannot tell the format of input '${path}' from its extension; use .txt, .jsonl or .csv, or pass --format txt|jsonl|csv`,
    );
  }
  return format;
}

/** Fails early, with exit code 2, when `path` is not a readable file. */
export async function checkReadable(path: string, what: string): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${what} '${path}': ${code === 'ENOENT' ? 'no such file' : (code ?? String(error))}`,
    );
  }
  if (!info.isFile()) {
    // A file is read twice (a counting pass, then the run), which a pipe cannot give.
    const hint = info.isDirectory() || what !== 'input' ? '' : '; pipe it to stdin and pass - instead';
    throw new UsageError(`cannot read ${what} '${path}': not a regular file${hint}`);
  }
  // stat succeeding does not prove read permission; opening does.
  await new Promise<void>((resolve, reject) => {
    const probe = createReadStream(path, { start: 0, end: 0 });
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`cannot read ${what} '${path}': ${error.code ?? error.message}`)),
    );
    probe.once('open', () => {
      probe.destroy();
      resolve();
    });
  });
}

/**
 * Opens the input, decoded strictly (see {@link decodeInput}: bad bytes stop the read with a
 * UsageError), and settles its format. Stdin without `--format` is sniffed from its first
 * non-blank character: `{` means JSONL, anything else plain text. CSV is never guessed
 * (a one-column CSV looks exactly like text), so it needs `--format csv`.
 */
export async function openInput(
  path: string,
  format: InputFormat | undefined,
  stdin: Readable,
): Promise<{ stream: Readable; format: InputFormat }> {
  if (path !== '-') return { stream: decodeInput(createReadStream(path), `input '${path}'`), format: format ?? 'txt' };
  const decoded = decodeInput(stdin, 'stdin');
  if (format) return { stream: decoded, format };
  const chunks = decoded[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let first: string | undefined;
  while (first === undefined) {
    const next = await chunks.next();
    if (next.done) break;
    head.push(next.value);
    first = /\S/.exec(next.value.toString())?.[0];
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* head;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
  }
  return { stream: Readable.from(replay(), { objectMode: false }), format: first === '{' ? 'jsonl' : 'txt' };
}

/** Reads `stream` record by record, holding one record at a time. */
export function readRecords(stream: Readable, format: InputFormat, names: FieldNames): AsyncGenerator<InputRecord> {
  if (format === 'txt') return readText(stream);
  if (format === 'jsonl') return readJsonl(stream, names);
  return readCsv(stream, names);
}

function lines(stream: Readable): AsyncIterable<string> {
  // crlfDelay: a \r\n split across two chunks is still one line break.
  return createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
}

const BOM = /^\uFEFF/;

/**
 * One text per line; the id is the 1-based line number. A blank line is an input too (an
 * empty text, reported as a failure under its line number) so that line numbers stay ids
 * and nothing is skipped without a trace.
 */
async function* readText(stream: Readable): AsyncGenerator<InputRecord> {
  let line = 0;
  for await (const raw of lines(stream)) {
    line++;
    yield { id: String(line), text: line === 1 ? raw.replace(BOM, '') : raw };
  }
}

/**
 * One JSON object per line. Blank lines separate nothing in JSONL and are not records; the
 * default id is still the 1-based physical line number, so it points into the file.
 */
async function* readJsonl(stream: Readable, names: FieldNames): AsyncGenerator<InputRecord> {
  let line = 0;
  for await (const raw of lines(stream)) {
    line++;
    const source = line === 1 ? raw.replace(BOM, '') : raw;
    if (source.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch (error) {
      yield { id: String(line), error: `line ${line}: invalid JSON (${(error as Error).message})` };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { id: String(line), error: `line ${line}: expected a JSON object` };
      continue;
    }
    const record = value as Record<string, unknown>;
    const id = idOf(record[names.idField], line);
    if (id === undefined) {
      const got = kind(record[names.idField]);
      yield { id: String(line), error: `line ${line}: '${names.idField}' must be a string or a number (got ${got})` };
      continue;
    }
    const text = record[names.textField];
    if (typeof text !== 'string') {
      const got = text === undefined ? 'missing' : kind(text);
      yield { id, error: `line ${line}: '${names.textField}' must be a string (got ${got})` };
      continue;
    }
    yield { id, text };
  }
}

/** A JSON value's kind for messages: "a number", "an array", "null". */
function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function idOf(value: unknown, fallback: number): string | undefined {
  if (value === undefined || value === null) return String(fallback);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * CSV with a header row (csv-parse: quoted fields, embedded newlines, a BOM). The text is in
 * `--text-column`; the id in `--id-column` when the header has it, else the 1-based data row.
 */
async function* readCsv(stream: Readable, names: FieldNames): AsyncGenerator<InputRecord> {
  const parser = stream.pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: true }));
  stream.once('error', (error) => parser.destroy(error));
  let textAt = -1;
  let idAt = -1;
  let row = 0;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      if (textAt === -1) {
        textAt = fields.indexOf(names.textColumn);
        idAt = fields.indexOf(names.idColumn);
        if (textAt === -1) {
          throw new UsageError(
            `CSV header has no column '${names.textColumn}' (columns: ${fields.join(', ')}); pass --text-column`,
          );
        }
        continue;
      }
      row++;
      const id = idAt === -1 ? String(row) : fields[idAt];
      const text = fields[textAt];
      if (id === undefined || text === undefined) {
        yield { id: id ?? String(row), error: `row ${row}: has ${fields.length} fields, too few for the header` };
      } else {
        yield { id, text };
      }
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    // csv-parse names the line and the problem (an unclosed quote, say).
    throw new UsageError(`cannot parse CSV: ${(error as Error).message}`);
  }
}

/**
 * How many records `path` holds, for the progress total: a second, cheap pass (lines for
 * text and JSONL, a full parse for CSV, whose quoted fields may span lines).
 */
export async function countRecords(path: string, format: InputFormat, names: FieldNames): Promise<number> {
  let count = 0;
  // The same strict decoding as the run: a file with bad bytes anywhere is refused here,
  // before the first request.
  const decoded = () => decodeInput(createReadStream(path), `input '${path}'`);
  if (format === 'csv') {
    for await (const _ of readCsv(decoded(), names)) count++;
    return count;
  }
  for await (const line of lines(decoded())) {
    if (format === 'txt' || line.trim() !== '') count++;
  }
  return count;
}
