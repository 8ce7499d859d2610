import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { UsageError } from './io.js';

/**
 * Input text is UTF-8. Bytes that are not (Latin-1, a binary file) would otherwise reach the
 * API as U+FFFD and come back as vectors of garbage, so they stop the read instead, naming
 * the line and the byte. A UTF-8 byte-order mark is skipped. A UTF-16 byte-order mark (what
 * Windows tools such as PowerShell's `>` write) is unambiguous, so such input is decoded as
 * UTF-16 rather than refused.
 *
 * @param source how messages name the input: `input 'notes.txt'` or `stdin`.
 * @returns the same text as UTF-8 bytes, BOM removed; the stream errors with a
 *   {@link UsageError} at the first bad byte, after passing on every complete line before it.
 */
export function decodeInput(stream: AsyncIterable<Buffer | string>, source: string): Readable {
  return Readable.from(decode(stream, source), { objectMode: false });
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

async function* decode(stream: AsyncIterable<Buffer | string>, source: string): AsyncGenerator<Buffer> {
  const chunks = stream[Symbol.asyncIterator]();
  // Enough bytes to recognise a byte-order mark, however the input was cut into chunks.
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 3 && !ended) {
    const next = await chunks.next();
    if (next.done) ended = true;
    else head = Buffer.concat([head, bytes(next.value)]);
  }
  const utf16 = head[0] === 0xff && head[1] === 0xfe ? 'LE' : head[0] === 0xfe && head[1] === 0xff ? 'BE' : undefined;
  const skip = utf16 ? 2 : head.subarray(0, 3).equals(UTF8_BOM) ? 3 : 0;
  const body: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      if (head.length > skip) yield head.subarray(skip);
      if (ended) return;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield bytes(next.value);
    },
  };
  if (utf16) yield* decodeUtf16(body, utf16, source);
  else yield* checkUtf8(body, source, skip);
}

const bytes = (chunk: Buffer | string): Buffer => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk);

/** Counts the line breaks seen so far and where the current data starts, for messages. */
class Position {
  line = 1;
  constructor(public offset: number) {}

  advance(output: Buffer, inputBytes: number): void {
    for (let at = output.indexOf(0x0a); at !== -1; at = output.indexOf(0x0a, at + 1)) this.line++;
    this.offset += inputBytes;
  }

  /**
   * "on line 3 at byte offset 41", for the input byte `index` bytes into the current data,
   * whose decoded text up to it is `output` up to `outputIndex` (the line breaks counted there).
   */
  describe(output: Buffer, outputIndex: number, index: number): string {
    let line = this.line;
    for (let at = output.indexOf(0x0a); at !== -1 && at < outputIndex; at = output.indexOf(0x0a, at + 1)) line++;
    return `on line ${line} at byte offset ${this.offset + index}`;
  }
}

/** The complete lines of `output` before `index`: passed on before the error, as a reader would. */
function* linesBefore(output: Buffer, index: number): Generator<Buffer> {
  const end = index > 0 ? output.lastIndexOf(0x0a, index - 1) : -1;
  if (end >= 0) yield output.subarray(0, end + 1);
}

async function* checkUtf8(body: AsyncIterable<Buffer>, source: string, bomBytes: number): AsyncGenerator<Buffer> {
  const at = new Position(bomBytes);
  let carry: Buffer = Buffer.alloc(0);
  const fail = (data: Buffer, bad: number): UsageError => {
    const where = at.describe(data, bad, bad);
    if (data[bad] === 0) {
      return new UsageError(
        `${source} is not text: a NUL byte ${where}; if it is UTF-16 without a byte-order mark, convert it first with iconv -f UTF-16LE -t UTF-8`,
      );
    }
    const byte = `0x${data[bad]!.toString(16).padStart(2, '0')}`;
    return new UsageError(
      `${source} is not valid UTF-8: byte ${byte} ${where}; if it is Latin-1 text, convert it first with iconv -f latin1 -t utf-8`,
    );
  };
  for await (const chunk of body) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    // A character split between two reads waits for its other bytes.
    const cut = completeLength(data);
    const whole = data.subarray(0, cut);
    // isUtf8 and indexOf run natively; the byte-by-byte scan runs only to name a bad byte.
    if (!isUtf8(whole) || whole.includes(0)) {
      const bad = firstBadByte(whole);
      yield* linesBefore(whole, bad);
      throw fail(whole, bad);
    }
    if (whole.length > 0) yield whole;
    at.advance(whole, whole.length);
    carry = data.subarray(cut);
  }
  if (carry.length === 0) return;
  // The input ends inside a character.
  const bad = firstBadByte(carry);
  yield* linesBefore(carry, bad === -1 ? 0 : bad);
  throw fail(carry, bad === -1 ? 0 : bad);
}

/** `data`'s length without a multi-byte character cut off at its end. */
function completeLength(data: Buffer): number {
  for (let i = data.length - 1; i >= Math.max(0, data.length - 3); i--) {
    const byte = data[i]!;
    if (byte < 0x80) return data.length;
    if (byte >= 0xc0) {
      const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return i + size > data.length ? i : data.length;
    }
  }
  return data.length;
}

/**
 * Index of the first byte that starts no valid UTF-8 character (or is NUL), by RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF, no character cut off. -1 if none.
 */
export function firstBadByte(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i]!;
    if (lead === 0) return i;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const tail =
      lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : -1;
    if (tail === -1 || i + tail >= bytes.length) return i;
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    if (bytes[i + 1]! < low || bytes[i + 1]! > high) return i;
    for (let k = 2; k <= tail; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += tail + 1;
  }
  return -1;
}

const isHigh = (unit: number): boolean => (unit & 0xfc00) === 0xd800;
const isLow = (unit: number): boolean => (unit & 0xfc00) === 0xdc00;

/** Index of the first surrogate without its other half among the first `units` code units, or -1. */
function firstUnpaired(le: Buffer, units: number): number {
  for (let u = 0; u < units; u++) {
    const unit = le.readUInt16LE(u * 2);
    if (isLow(unit)) return u;
    if (isHigh(unit)) {
      if (u + 1 >= units || !isLow(le.readUInt16LE(u * 2 + 2))) return u;
      u++;
    }
  }
  return -1;
}

async function* decodeUtf16(body: AsyncIterable<Buffer>, order: 'LE' | 'BE', source: string): AsyncGenerator<Buffer> {
  const at = new Position(2);
  const fail = (output: Buffer, index: number, problem: string): UsageError =>
    new UsageError(
      `${source} starts with a UTF-16${order} byte-order mark but is not valid UTF-16: ${problem} ` +
        `${at.describe(output, output.length, index)}`,
    );
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of withEnd(body)) {
    const final = chunk === undefined;
    const data = final ? carry : Buffer.concat([carry, chunk]);
    const even = data.length & ~1;
    const le = order === 'LE' ? data.subarray(0, even) : Buffer.from(data.subarray(0, even)).swap16();
    let units = even / 2;
    // A high surrogate at the end of a read waits for its low half in the next one.
    if (!final && units > 0 && isHigh(le.readUInt16LE(even - 2))) units--;
    const bad = firstUnpaired(le, units);
    const good = bad === -1 ? units : bad;
    const output = Buffer.from(le.toString('utf16le', 0, good * 2), 'utf8');
    if (bad !== -1) {
      yield* linesBefore(output, output.length);
      throw fail(output, bad * 2, `unpaired surrogate 0x${le.readUInt16LE(bad * 2).toString(16)}`);
    }
    if (output.length > 0) yield output;
    at.advance(output, good * 2);
    carry = data.subarray(good * 2);
    if (final && carry.length > 0)
      throw fail(Buffer.alloc(0), 0, 'it ends in half a character (an odd number of bytes)');
  }
}

async function* withEnd(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer | undefined> {
  yield* chunks;
  yield undefined;
}
