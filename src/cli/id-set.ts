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
