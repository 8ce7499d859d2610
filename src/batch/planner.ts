/**
 * Turns inputs into requests: checks each text before anything is sent, merges identical
 * texts into one unit, and packs units into requests that close at an input count or a
 * token total, whichever comes first.
 */
import { InvalidArgumentError } from '../errors.js';
import { boundedByBytes, COUNT_PAST_LIMIT, countUpTo, longestPrefixWithin, type Tokenizer } from '../tokenizer.js';

/** One text to embed and every input position that asked for it. */
export interface Unit {
  text: string;
  /**
   * Tokens the text occupies, counted with the job's tokenizer; undefined while its UTF-8 size
   * alone settled every check (see {@link Prepared.tokens}).
   */
  tokens: number | undefined;
  /** An upper bound of its tokens: `tokens` once counted, its UTF-8 byte length before. */
  bound: number;
  /** Its UTF-8 byte length, when the tokenizer is byte-level (what an estimate of its tokens starts from). */
  bytes: number | undefined;
  /** Input positions that receive this unit's vector (several when deduplicated). */
  indices: number[];
  /** The caller's id for each position in `indices` (stream() inputs may carry one). */
  ids: (string | undefined)[];
  /** Cache key, computed once when a cache is in use. */
  key?: string;
}

/** The requests a job may send. */
export interface RequestLimits {
  maxInputsPerRequest: number;
  maxTokensPerRequest: number;
}

export interface TextRules {
  tokenizer: Tokenizer;
  maxTokensPerInput: number;
  truncate: boolean;
}

/** A checked input: the text to send and what is known of its size. */
export interface Prepared {
  text: string;
  /**
   * Its exact count, or undefined when the tokenizer is byte-level (every token covers at least
   * one byte) and the text has at most `maxTokensPerInput` UTF-8 bytes: it then fits without
   * counting, and is counted only if a request's byte total cannot settle its packing.
   */
  tokens: number | undefined;
  /** Upper bound of its tokens: `tokens`, or its UTF-8 byte length. */
  bound: number;
  bytes: number | undefined;
}

/**
 * Checks one input and returns the text to send with its size. Errors name the input's
 * position: `field` is `input[7]` (or `input[7].text` for `{ id, text }` items).
 */
export function prepareText(text: unknown, field: string, rules: TextRules): Prepared {
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(`\`${field}\` must be a string (got ${describe(text)})`);
  }
  // OpenAI answers 400 to an empty input, so it fails here instead of failing its whole request.
  if (text.length === 0) {
    throw new InvalidArgumentError(`\`${field}\` must not be an empty string (got "")`);
  }
  const { tokenizer, maxTokensPerInput: max } = rules;
  let bytes: number | undefined;
  if (boundedByBytes(tokenizer)) {
    bytes = Buffer.byteLength(text, 'utf8');
    if (bytes <= max) return { text, tokens: undefined, bound: bytes, bytes };
  }
  const cap = max + COUNT_PAST_LIMIT;
  const tokens = checkedCount(countUpTo(tokenizer, text, cap), field);
  if (tokens <= max) return { text, tokens, bound: tokens, bytes };
  if (!rules.truncate) {
    const size = tokens > cap && typeof tokenizer.countUpTo === 'function' ? `more than ${cap}` : String(tokens);
    throw new InvalidArgumentError(
      `\`${field}\` has ${size} tokens, over \`maxTokensPerInput\` (${max}); shorten it or pass \`truncate: true\``,
    );
  }
  const within = (prefix: string, limit: number) => checkedCount(countUpTo(tokenizer, prefix, limit), field);
  let cut = tokenizer.truncate(text, max);
  let cutTokens = within(cut, max);
  // Token boundaries can fall inside a character: the decoded cut then ends in U+FFFD (not a
  // prefix of the text) or re-encodes to more tokens. Fall back to the longest prefix of whole
  // characters that fits.
  if (cutTokens > max || cut === '' || !text.startsWith(cut)) {
    cut = longestPrefixWithin(text, max, within);
    cutTokens = within(cut, max);
  }
  if (cut === '') {
    throw new InvalidArgumentError(
      `\`${field}\` cannot be cut to \`maxTokensPerInput\` (${max}): its first character alone takes more tokens`,
    );
  }
  return {
    text: cut,
    tokens: cutTokens,
    bound: cutTokens,
    bytes: bytes === undefined ? undefined : Buffer.byteLength(cut),
  };
}

/** Counts `unit` exactly if it was not yet, and returns how many tokens its bound dropped by. */
function countUnit(unit: Unit, tokenizer: Tokenizer): number {
  if (unit.tokens !== undefined) return 0;
  const tokens = checkedCount(tokenizer.count(unit.text), 'input');
  const saved = unit.bound - tokens;
  unit.tokens = tokens;
  unit.bound = tokens;
  return saved;
}

/** A plugged-in tokenizer that answers nonsense would silently break every token budget. */
function checkedCount(tokens: number, field: string): number {
  if (!Number.isInteger(tokens) || tokens < 0) {
    throw new InvalidArgumentError(
      `\`tokenizer.count()\` must return an integer ≥ 0 for \`${field}\` (got ${describe(tokens)})`,
    );
  }
  return tokens;
}

/** Reads a stream() item: a string, or `{ id, text }`. */
export function readItem(item: unknown, index: number): { id: string | undefined; text: unknown; field: string } {
  if (typeof item === 'string') return { id: undefined, text: item, field: `input[${index}]` };
  if (typeof item === 'object' && item !== null && 'text' in item) {
    const { id, text } = item as { id?: unknown; text: unknown };
    if (id !== undefined && typeof id !== 'string') {
      throw new InvalidArgumentError(`\`input[${index}].id\` must be a string (got ${describe(id)})`);
    }
    return { id, text, field: `input[${index}].text` };
  }
  throw new InvalidArgumentError(
    `\`input[${index}]\` must be a string or an object { id, text } (got ${describe(item)})`,
  );
}

/**
 * Merges inputs with the same text into one unit: model and dimensions are fixed for a job,
 * so the same text would come back as the same vector. With `dedupe` off every input is
 * its own unit.
 */
export class Deduper {
  private readonly open = new Map<string, Unit>();

  constructor(private readonly dedupe: boolean) {}

  /** The new unit for this text, or `undefined` when the input joined an open unit. */
  add(index: number, id: string | undefined, { text, tokens, bound, bytes }: Prepared): Unit | undefined {
    if (this.dedupe) {
      const existing = this.open.get(text);
      if (existing !== undefined) {
        existing.indices.push(index);
        existing.ids.push(id);
        return undefined;
      }
    }
    const unit: Unit = { text, tokens, bound, bytes, indices: [index], ids: [id] };
    if (this.dedupe) this.open.set(text, unit);
    return unit;
  }

  /** A finished unit accepts no more inputs (stream() forgets it so memory stays bounded). */
  close(unit: Unit): void {
    if (this.open.get(unit.text) === unit) this.open.delete(unit.text);
  }
}

/** The units of one request and an upper bound of their tokens (exact once all are counted). */
export interface Batch {
  units: Unit[];
  tokens: number;
}

/**
 * Packs units into requests in arrival order. `add()` returns the request it closed, if any
 * (the open one when the new unit would overflow its tokens, or the new one when it reaches
 * the input count); `flush()` returns what is left.
 *
 * Requests close exactly where exact counts would close them, yet most units are never
 * counted: while the open request's bounds (UTF-8 bytes for uncounted units) stay within
 * `maxTokensPerRequest`, so do its tokens. Only when the bounds say it might overflow are its
 * units counted, oldest first, until they say it fits or all are counted and the totals decide.
 */
export class BatchBuilder {
  private units: Unit[] = [];
  private tokens = 0;
  /** Units before this one in `units` are counted. */
  private counted = 0;
  /** The limits of the open request, read as it opens. */
  private limits: RequestLimits;

  /**
   * `limits` may be a function, read as each request opens: a job packs with the caps it has
   * learnt since it started (a refusal's, a burst's), not split every request it packs later.
   */
  constructor(
    private readonly limitsNow: RequestLimits | (() => RequestLimits),
    private readonly tokenizer: Tokenizer,
  ) {
    this.limits = this.read();
  }

  private read(): RequestLimits {
    return typeof this.limitsNow === 'function' ? this.limitsNow() : this.limitsNow;
  }

  /** Units waiting in the open request. */
  get size(): number {
    return this.units.length;
  }

  add(unit: Unit): Batch[] {
    const closed: Batch[] = [];
    if (this.units.length > 0 && !this.fits(unit)) closed.push(this.flush()!);
    if (this.units.length === 0) this.limits = this.read();
    this.units.push(unit);
    this.tokens += unit.bound;
    if (this.units.length >= this.limits.maxInputsPerRequest) closed.push(this.flush()!);
    return closed;
  }

  /** Whether `unit` fits in the open request, counting only what the bounds leave open. */
  private fits(unit: Unit): boolean {
    const max = this.limits.maxTokensPerRequest;
    if (this.tokens + unit.bound <= max) return true;
    countUnit(unit, this.tokenizer);
    while (this.tokens + unit.bound > max && this.counted < this.units.length) {
      this.tokens -= countUnit(this.units[this.counted++]!, this.tokenizer);
    }
    return this.tokens + unit.bound <= max;
  }

  flush(): Batch | undefined {
    if (this.units.length === 0) return undefined;
    const batch = { units: this.units, tokens: this.tokens };
    this.units = [];
    this.tokens = 0;
    this.counted = 0;
    return batch;
  }
}

/** Every request for `units`, in order. */
export function packBatches(units: Iterable<Unit>, limits: RequestLimits, tokenizer: Tokenizer): Batch[] {
  const builder = new BatchBuilder(limits, tokenizer);
  const batches: Batch[] = [];
  for (const unit of units) {
    batches.push(...builder.add(unit));
  }
  const last = builder.flush();
  if (last) batches.push(last);
  return batches;
}

/** `batch` with every unit counted: its exact token total. */
export function countBatch(batch: Batch, tokenizer: Tokenizer): number {
  for (const unit of batch.units) batch.tokens -= countUnit(unit, tokenizer);
  return batch.tokens;
}

/** Splits a request in two halves by unit count (for 413s and 400s about one input). */
export function halves(batch: Batch): [Batch, Batch] {
  const middle = Math.ceil(batch.units.length / 2);
  const left = batch.units.slice(0, middle);
  const right = batch.units.slice(middle);
  return [toBatch(left), toBatch(right)];
}

/** A request of `units`, with their token total. */
export function toBatch(units: Unit[]): Batch {
  return { units, tokens: units.reduce((sum, unit) => sum + unit.bound, 0) };
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  // What is left is a primitive: number, boolean, bigint or symbol.
  return `${typeof value} ${(value as number | boolean | bigint | symbol).toString()}`;
}
