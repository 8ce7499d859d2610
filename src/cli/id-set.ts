/** Ids up to this are canonical integers kept as bits: a line-numbered input of any length. */
const MAX_NUMBERED = 2 ** 31 - 1;

/**
 * The ids of a run, to find repeats. Most inputs are numbered by line (.txt, JSONL without an
 * id): those take one bit each instead of a string in a Set (about 60 bytes), so a 1,000,000-
 * line run holds 125 KB rather than 60 MB. Other ids go to an ordinary Set.
 */
export class IdSet {
  #bits = new Uint8Array(1024);
  readonly #others = new Set<string>();

  has(id: string): boolean {
    const n = numbered(id);
    if (n === undefined) return this.#others.has(id);
    return n >>> 3 < this.#bits.length && (this.#bits[n >>> 3]! & (1 << (n & 7))) !== 0;
  }

  add(id: string): void {
    const n = numbered(id);
    if (n === undefined) {
      this.#others.add(id);
      return;
    }
    if (n >>> 3 >= this.#bits.length) {
      const grown = new Uint8Array(Math.max(this.#bits.length * 2, (n >>> 3) + 1));
      grown.set(this.#bits);
      this.#bits = grown;
    }
    this.#bits[n >>> 3]! |= 1 << (n & 7);
  }
}

/** `id` as an integer when it is one written canonically ("7", not "07" or "7.0"). */
function numbered(id: string): number | undefined {
  if (id.length === 0 || id.length > 10) return undefined;
  const n = Number(id);
  return Number.isInteger(n) && n >= 0 && n <= MAX_NUMBERED && String(n) === id ? n : undefined;
}

/** Marks an id kept as a string in {@link IdList}'s map rather than as a number. */
const NOT_NUMBERED = 0xffffffff;

/**
 * The ids of a run by position. Line-numbered ids take four bytes each instead of a string
 * (about 30 bytes and a pointer): a 1,000,000-input batch job keeps 4 MB rather than 40 MB
 * for the ids it writes beside the vectors. Other ids are kept as strings.
 */
export class IdList {
  #numbers = new Uint32Array(1024);
  readonly #others = new Map<number, string>();
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(id: string): void {
    if (this.#length === this.#numbers.length) {
      const grown = new Uint32Array(this.#numbers.length * 2);
      grown.set(this.#numbers);
      this.#numbers = grown;
    }
    const n = numbered(id);
    if (n === undefined) this.#others.set(this.#length, id);
    this.#numbers[this.#length++] = n ?? NOT_NUMBERED;
  }

  at(index: number): string | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    const n = this.#numbers[index]!;
    return n === NOT_NUMBERED ? this.#others.get(index) : String(n);
  }
}
