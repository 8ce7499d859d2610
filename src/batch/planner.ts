/**
 * Turns inputs into requests: checks each text before anything is sent, merges identical
 * texts into one unit, and packs units into requests that close at an input count or a
 * token total, whichever comes first.
 */
import { InvalidArgumentError } from '../errors.js';
import { COUNT_PAST_LIMIT, countUpTo, longestPrefixWithin, type Tokenizer } from '../tokenizer.js';

/** One text to embed and every input position that asked for it. */
export interface Unit {
  text: string;
  /** Tokens the text occupies, counted with the job's tokenizer. */
  tokens: number;
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

/**
 * Checks one input and returns the text to send with its token count. Errors name the
 * input's position: `field` is `input[7]` (or `input[7].text` for `{ id, text }` items).
 */
export function prepareText(text: unknown, field: string, rules: TextRules): { text: string; tokens: number } {
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(`\`${field}\` must be a string (got ${describe(text)})`);
  }
  // OpenAI answers 400 to an empty input, so it fails here instead of failing its whole request.
  if (text.length === 0) {
    throw new InvalidArgumentError(`\`${field}\` must not be an empty string (got "")`);
  }
  const { tokenizer, maxTokensPerInput: max } = rules;
  const cap = max + COUNT_PAST_LIMIT;
  const tokens = checkedCount(countUpTo(tokenizer, text, cap), field);
  if (tokens <= max) return { text, tokens };
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
  return { text: cut, tokens: cutTokens };
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
  add(index: number, id: string | undefined, text: string, tokens: number): Unit | undefined {
    if (this.dedupe) {
      const existing = this.open.get(text);
      if (existing !== undefined) {
        existing.indices.push(index);
        existing.ids.push(id);
        return undefined;
      }
    }
    const unit: Unit = { text, tokens, indices: [index], ids: [id] };
    if (this.dedupe) this.open.set(text, unit);
    return unit;
  }

  /** A finished unit accepts no more inputs (stream() forgets it so memory stays bounded). */
  close(unit: Unit): void {
    if (this.open.get(unit.text) === unit) this.open.delete(unit.text);
  }
}

/** The units of one request and their token total. */
export interface Batch {
  units: Unit[];
  tokens: number;
}

/**
 * Packs units into requests in arrival order. `add()` returns the request it closed, if any
 * (the open one when the new unit would overflow its tokens, or the new one when it reaches
 * the input count); `flush()` returns what is left.
 */
export class BatchBuilder {
  private units: Unit[] = [];
  private tokens = 0;

  constructor(private readonly limits: RequestLimits) {}

  /** Units waiting in the open request. */
  get size(): number {
    return this.units.length;
  }

  add(unit: Unit): Batch[] {
    const closed: Batch[] = [];
    if (this.units.length > 0 && this.tokens + unit.tokens > this.limits.maxTokensPerRequest) {
      closed.push(this.flush()!);
    }
    this.units.push(unit);
    this.tokens += unit.tokens;
    if (this.units.length >= this.limits.maxInputsPerRequest) closed.push(this.flush()!);
    return closed;
  }

  flush(): Batch | undefined {
    if (this.units.length === 0) return undefined;
    const batch = { units: this.units, tokens: this.tokens };
    this.units = [];
    this.tokens = 0;
    return batch;
  }
}

/** Every request for `units`, in order. */
export function packBatches(units: Iterable<Unit>, limits: RequestLimits): Batch[] {
  const builder = new BatchBuilder(limits);
  const batches: Batch[] = [];
  for (const unit of units) {
    batches.push(...builder.add(unit));
  }
  const last = builder.flush();
  if (last) batches.push(last);
  return batches;
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
  return { units, tokens: units.reduce((sum, unit) => sum + unit.tokens, 0) };
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
