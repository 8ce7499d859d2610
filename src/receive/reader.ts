import { scaleRow, validLengthBase64Bytes } from '../decode.js';

/**
 * Reads an embeddings answer from its body's chunks, split anywhere, without building the
 * body as one string: each item's `index` and base64 `embedding` are found in the raw bytes,
 * every vector is decoded into one scratch row, checked and normalised there while it is in
 * cache, then copied once to where it belongs (a Float32Array of its own, or its row of one for
 * the whole answer or of the caller's memory), and only the small remainder (model, usage,
 * object and any other top-level member) goes through `JSON.parse`.
 *
 * It reads only the plain shape every server sends. Anything else (float arrays, escapes in a
 * key or a vector, unknown or repeated item keys, a number that is not a plain integer, an
 * item count or vector length that does not fit, a truncated body) makes `end()` return
 * `undefined`, and the caller reads the chunks the full way, whose checks then name the
 * fault: the reader never decides an error, so it can never word one differently.
 */
interface ReaderInit {
  /** Items the answer must hold. */
  rows: number;
  /** The vector length asked for, if any. */
  dimensions: number | undefined;
  /** Normalise each row in place after it is checked. */
  normalize: boolean;
  /** Largest body accepted: bounds the memory reserved from the first vector's length. */
  maxBytes: number;
  /** Each row in a Float32Array of its own (the `'float32'` layout) instead of all in one for the answer. */
  ownRows: boolean;
  /** Memory the rows go to (createMany's matrix) instead of the reader's own. */
  into?: RowTarget | undefined;
}

/**
 * Memory of the caller's that an answer's rows are written to, each at a row of its own
 * choosing: createMany's matrix, so that no row goes to a buffer of the answer's and is copied
 * from there again.
 */
export interface RowTarget {
  /**
   * The memory for rows of `dimensions` floats, or `undefined` when rows of that length do not
   * belong there (the reader then uses its own).
   */
  reserve(dimensions: number): Float32Array | undefined;
  /** The row of that memory the answer's row `row` (its `index`) goes to. */
  rowOf(row: number): number;
}

/** The vectors of an answer in index order, whatever order they came in, and its other members. */
interface ReadAnswer {
  /** Each row its own Float32Array, or a view into one for the whole answer, back to back in index order. */
  vectors: Float32Array[];
  /** Every top-level member but `data`, parsed. */
  rest: Record<string, unknown>;
}

/** Thrown inside the scan to leave it: one object, so leaving costs no stack capture. */
const BAIL = new Error('not the plain embeddings answer');

// Where the scan stands, between tokens.
const TOP_OPEN = 0;
const TOP_FIRST_KEY = 1;
const TOP_KEY = 2;
const TOP_COLON = 3;
const TOP_VALUE = 4;
const TOP_NEXT = 5;
const END = 6;
const DATA_FIRST = 7;
const DATA_ITEM = 8;
const DATA_NEXT = 9;
const ITEM_FIRST_KEY = 10;
const ITEM_KEY = 11;
const ITEM_COLON = 12;
const ITEM_VALUE = 13;
const ITEM_NEXT = 14;

// What the bytes being read belong to, when not structure.
const NONE = 0;
const KEY = 1;
const SHORT = 2;
const VECTOR = 3;
const GENERIC = 4;
const DIGITS = 5;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** A backslash, `-` and `_`: none is in standard base64, and Node's decoder would take the last two. */
const FORBIDDEN_IN_BASE64 = [BACKSLASH, 0x2d, 0x5f];

export class EmbeddingsReader {
  readonly #init: ReaderInit;
  #state = TOP_OPEN;
  #mode = NONE;
  #failed = false;
  /** The state a key or short string leads to once it closes. */
  #after = TOP_OPEN;
  #key = '';
  readonly #topKeys = new Set<string>();
  readonly #members: string[] = [];
  // A top-level member other than `data`: its raw bytes, however it spans chunks.
  #genericPieces: Buffer[] = [];
  #genericFrom = 0;
  #genericDepth = 0;
  #genericKind = 0;
  #genericInString = false;
  #genericEscape = false;
  // The item being read.
  #itemKeys = 0;
  #index = -1;
  #digits = 0;
  #vectorPieces: string[] = [];
  #row = 0;
  /** Each row's `index`, in arrival order. */
  #indexes: Int32Array | undefined;
  #dimensions = 0;
  /** The rows decoded so far, in arrival order. */
  #rows: Float32Array[] | undefined;
  /** With one Float32Array for the answer (or the caller's memory): it. */
  #floats: Float32Array | undefined;
  /** Where each arrival row goes in `#floats`, when that is the caller's memory. */
  #rowOf: ((row: number) => number) | undefined;
  /** The row each vector is decoded into before it is copied out, as floats and as bytes. */
  #scratch: Float32Array | undefined;
  #scratchBytes: Buffer | undefined;
  /**
   * Where the next byte that base64 may not hold is in the chunk being read, -1 for none: a
   * backslash (an escape, which only the full way reads), and base64url's `-` and `_`, which
   * Node's decoder would read without a word. One search of each chunk for each, not of each vector.
   */
  readonly #forbidden = new Int32Array(FORBIDDEN_IN_BASE64.length);

  constructor(init: ReaderInit) {
    this.#init = init;
  }

  /** Reads the next chunk of the body. */
  write(chunk: Buffer): void {
    if (this.#failed) return;
    try {
      this.#scan(chunk);
    } catch (error) {
      if (error !== BAIL) throw error;
      this.#failed = true;
      this.#rows = undefined;
      this.#floats = undefined;
      this.#rowOf = undefined;
    }
  }

  /** The answer, or `undefined` when the body must be read the full way. */
  end(): ReadAnswer | undefined {
    if (this.#failed || this.#state !== END || this.#row !== this.#init.rows || this.#rows === undefined) {
      return undefined;
    }
    const vectors = this.#inIndexOrder(this.#rows);
    if (vectors === undefined) return undefined;
    let rest: unknown;
    try {
      rest = JSON.parse(`{${this.#members.join(',')}}`);
    } catch {
      return undefined;
    }
    return { vectors, rest: rest as Record<string, unknown> };
  }

  #scan(chunk: Buffer): void {
    const length = chunk.length;
    for (let k = 0; k < FORBIDDEN_IN_BASE64.length; k++) this.#forbidden[k] = chunk.indexOf(FORBIDDEN_IN_BASE64[k]!);
    this.#genericFrom = 0;
    let i = 0;
    while (i < length) {
      const mode = this.#mode;
      if (mode === VECTOR) i = this.#vector(chunk, i);
      else if (mode === KEY || mode === SHORT) i = this.#short(chunk, i);
      else if (mode === GENERIC) i = this.#generic(chunk, i);
      else if (mode === DIGITS) i = this.#number(chunk, i);
      else {
        const c = chunk[i]!;
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
        else if (this.#structure(c, i)) i++;
      }
    }
    if (this.#mode === GENERIC) this.#genericPieces.push(chunk.subarray(this.#genericFrom));
  }

  /** One byte of structure in the current state; `false` when a value starts at it and reads it itself. */
  #structure(c: number, at: number): boolean {
    switch (this.#state) {
      case TOP_OPEN:
        return this.#expect(c === 0x7b, TOP_FIRST_KEY);
      case TOP_FIRST_KEY:
      case TOP_KEY:
        if (c !== QUOTE) throw BAIL;
        return this.#startString(KEY, TOP_COLON);
      case TOP_COLON:
        return this.#expect(c === 0x3a, TOP_VALUE);
      case TOP_VALUE:
        if (this.#key === 'data') return this.#expect(c === 0x5b, DATA_FIRST);
        this.#mode = GENERIC;
        this.#genericFrom = at;
        this.#genericKind = c;
        this.#genericInString = c === QUOTE;
        this.#genericEscape = false;
        this.#genericDepth = c === 0x7b || c === 0x5b ? 1 : 0;
        this.#genericPieces = [];
        return true;
      case TOP_NEXT:
        if (c === 0x2c) this.#state = TOP_KEY;
        else this.#expect(c === 0x7d, END);
        return true;
      case DATA_FIRST:
        if (c === 0x5d) return this.#expect(true, TOP_NEXT);
        return this.#startItem(c);
      case DATA_ITEM:
        return this.#startItem(c);
      case DATA_NEXT:
        if (c === 0x2c) return this.#expect(true, DATA_ITEM);
        return this.#expect(c === 0x5d, TOP_NEXT);
      case ITEM_FIRST_KEY:
      case ITEM_KEY:
        if (c !== QUOTE) throw BAIL;
        return this.#startString(KEY, ITEM_COLON);
      case ITEM_COLON:
        return this.#expect(c === 0x3a, ITEM_VALUE);
      case ITEM_VALUE:
        return this.#itemValue(c);
      case ITEM_NEXT:
        if (c === 0x2c) return this.#expect(true, ITEM_KEY);
        if (c !== 0x7d || (this.#itemKeys & 6) !== 6) throw BAIL;
        // An item closes only with its embedding, which reserved the memory.
        this.#indexes![this.#row++] = this.#index;
        return this.#expect(true, DATA_NEXT);
      default:
        // END: only whitespace may follow the answer.
        throw BAIL;
    }
  }

  #expect(ok: boolean, next: number): boolean {
    if (!ok) throw BAIL;
    this.#state = next;
    return true;
  }

  #startString(mode: number, after: number): boolean {
    this.#mode = mode;
    this.#after = after;
    this.#key = '';
    return true;
  }

  #startItem(c: number): boolean {
    if (c !== 0x7b || this.#row >= this.#init.rows) throw BAIL;
    this.#itemKeys = 0;
    this.#index = -1;
    return this.#expect(true, ITEM_FIRST_KEY);
  }

  #itemValue(c: number): boolean {
    const key = this.#key;
    // Each key once: JSON.parse would keep the last of two, which this reader does not follow.
    const bit = key === 'object' ? 1 : key === 'index' ? 2 : key === 'embedding' ? 4 : 0;
    if (bit === 0 || this.#itemKeys & bit) throw BAIL;
    this.#itemKeys |= bit;
    this.#state = ITEM_NEXT;
    if (bit === 2) {
      if (c < 0x30 || c > 0x39) throw BAIL;
      this.#mode = DIGITS;
      this.#index = 0;
      this.#digits = 0;
      return false;
    }
    if (c !== QUOTE) throw BAIL;
    this.#mode = bit === 4 ? VECTOR : SHORT;
    this.#after = ITEM_NEXT;
    return true;
  }

  /** A key or the item's `object`: short, with no escape or control character. */
  #short(chunk: Buffer, i: number): number {
    const keep = this.#mode === KEY;
    for (; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === QUOTE) {
        this.#mode = NONE;
        this.#state = this.#after;
        if (keep && this.#after === TOP_COLON) {
          if (this.#topKeys.has(this.#key)) throw BAIL;
          this.#topKeys.add(this.#key);
        }
        return i + 1;
      }
      if (c === BACKSLASH || c < 0x20) throw BAIL;
      if (keep) {
        if (c > 0x7e || this.#key.length > 64) throw BAIL;
        this.#key += String.fromCharCode(c);
      }
    }
    return i;
  }

  /** The digits of `index`: a plain integer, as every server writes it. */
  #number(chunk: Buffer, i: number): number {
    for (; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c >= 0x30 && c <= 0x39) {
        if ((this.#digits > 0 && this.#index === 0) || ++this.#digits > 9) throw BAIL;
        this.#index = this.#index * 10 + (c - 0x30);
        continue;
      }
      // A sign, fraction or exponent makes it a number this reader does not read.
      if (c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) throw BAIL;
      this.#mode = NONE;
      return i;
    }
    return i;
  }

  /** Base64 up to its closing quote, found with indexOf: the bulk of the body is never read byte by byte. */
  #vector(chunk: Buffer, i: number): number {
    const quote = chunk.indexOf(QUOTE, i);
    const end = quote === -1 ? chunk.length : quote;
    const forbidden = this.#forbidden;
    for (let k = 0; k < forbidden.length; k++) {
      let at = forbidden[k]!;
      if (at !== -1 && at < i) forbidden[k] = at = chunk.indexOf(FORBIDDEN_IN_BASE64[k]!, i);
      if (at !== -1 && at < end) throw BAIL;
    }
    const piece = chunk.toString('latin1', i, end);
    if (quote === -1) {
      this.#vectorPieces.push(piece);
      return end;
    }
    // Most vectors lie within one chunk: no array of pieces for them.
    let text = piece;
    if (this.#vectorPieces.length > 0) {
      this.#vectorPieces.push(piece);
      text = this.#vectorPieces.join('');
      this.#vectorPieces.length = 0;
    }
    this.#decode(text);
    this.#mode = NONE;
    this.#state = ITEM_NEXT;
    return quote + 1;
  }

  /** Decodes one vector into its row (arrival order), then checks and normalises it. */
  #decode(text: string): void {
    const bytes = validLengthBase64Bytes(text);
    if (bytes <= 0 || bytes % 4 !== 0) throw BAIL;
    const dimensions = this.#dimensions || this.#reserve(bytes / 4);
    if (bytes !== dimensions * 4) throw BAIL;
    const row = this.#row;
    // Decoded, checked and scaled in one scratch row that stays in cache, then copied out once:
    // decoding into fresh memory and reading it back to scale it cost more than the copy.
    const scratch = this.#scratch!;
    // write() decodes natively; fewer bytes than the length promises means a character was skipped.
    if (this.#scratchBytes!.write(text, 0, bytes, 'base64') !== bytes) throw BAIL;
    if (!scaleRow(scratch, 0, dimensions, this.#init.normalize)) throw BAIL;
    const floats = this.#floats;
    if (floats === undefined) {
      this.#rows![row] = scratch.slice();
      return;
    }
    // A row goes where its arrival says its index is; #inIndexOrder moves it if the index says otherwise.
    const from = (this.#rowOf === undefined ? row : this.#rowOf(row)) * dimensions;
    floats.set(scratch, from);
    this.#rows![row] = floats.subarray(from, from + dimensions);
  }

  /** Sets the answer's memory aside once the first vector gives its length; returns that length. */
  #reserve(dimensions: number): number {
    const { rows, maxBytes } = this.#init;
    if (this.#init.dimensions !== undefined && dimensions !== this.#init.dimensions) throw BAIL;
    // A whole answer carries 4/3 of its floats' bytes: one that cannot fit is not reserved for.
    if (rows * dimensions * 16 > maxBytes * 3) throw BAIL;
    this.#dimensions = dimensions;
    this.#indexes = new Int32Array(rows);
    this.#rows = new Array<Float32Array>(rows);
    const target = this.#init.into?.reserve(dimensions);
    if (target !== undefined) {
      this.#floats = target;
      this.#rowOf = this.#init.into!.rowOf.bind(this.#init.into);
    } else if (!this.#init.ownRows) {
      this.#floats = new Float32Array(rows * dimensions);
    }
    this.#scratch = new Float32Array(dimensions);
    this.#scratchBytes = Buffer.from(this.#scratch.buffer);
    return dimensions;
  }

  /**
   * A top-level member other than `data`, kept raw for `JSON.parse`, which judges it: here
   * only its end is found, where its nesting closes, its string closes, or a bare word stops.
   */
  #generic(chunk: Buffer, i: number): number {
    const kind = this.#genericKind;
    const container = kind === 0x7b || kind === 0x5b;
    for (; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.#genericInString) {
        if (this.#genericEscape) this.#genericEscape = false;
        else if (c === BACKSLASH) this.#genericEscape = true;
        else if (c === QUOTE) {
          this.#genericInString = false;
          if (!container) return this.#endGeneric(chunk, i + 1);
        }
      } else if (container) {
        if (c === QUOTE) this.#genericInString = true;
        else if (c === 0x7b || c === 0x5b) this.#genericDepth++;
        else if ((c === 0x7d || c === 0x5d) && --this.#genericDepth === 0) return this.#endGeneric(chunk, i + 1);
      } else if (c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        return this.#endGeneric(chunk, i);
      }
    }
    return i;
  }

  #endGeneric(chunk: Buffer, end: number): number {
    this.#genericPieces.push(chunk.subarray(this.#genericFrom, end));
    this.#members.push(`${JSON.stringify(this.#key)}:${Buffer.concat(this.#genericPieces).toString('utf8')}`);
    this.#genericPieces = [];
    this.#mode = NONE;
    this.#state = TOP_NEXT;
    return end;
  }

  /**
   * The rows by `index`, nothing when indexes repeat or miss. Rows that came out of order are
   * put in order; in one buffer for the answer, they are moved there too, so row i of the
   * buffer is always the vector of input i.
   */
  #inIndexOrder(rows: Float32Array[]): Float32Array[] | undefined {
    const indexes = this.#indexes!;
    let ordered = true;
    const seen = new Uint8Array(indexes.length);
    for (let row = 0; row < indexes.length; row++) {
      const index = indexes[row]!;
      if (index < 0 || index >= indexes.length || seen[index]) return undefined;
      seen[index] = 1;
      if (index !== row) ordered = false;
    }
    if (ordered) return rows;
    const out = new Array<Float32Array>(rows.length);
    for (let row = 0; row < indexes.length; row++) out[indexes[row]!] = rows[row]!;
    const floats = this.#floats;
    if (floats === undefined) return out;
    const d = this.#dimensions;
    const rowOf = this.#rowOf;
    if (rowOf !== undefined) {
      // The caller's rows are fixed: each row is copied out first, then written where its index goes.
      const copies = out.map((row) => row.slice());
      for (let index = 0; index < out.length; index++) {
        const at = rowOf(index) * d;
        floats.set(copies[index]!, at);
        out[index] = floats.subarray(at, at + d);
      }
      return out;
    }
    const moved = new Float32Array(floats.length);
    for (let index = 0; index < out.length; index++) {
      moved.set(out[index]!, index * d);
      out[index] = moved.subarray(index * d, (index + 1) * d);
    }
    return out;
  }
}
