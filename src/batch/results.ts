/**
 * stream()'s results waiting for the consumer. Unordered, a result is ready as it arrives;
 * `ordered`, one that arrives before an earlier input's is held until every earlier position
 * has arrived or was dropped.
 */
export class ResultQueue<T> {
  /** Ready results, read from `#head`; compacted as it drains so a long stream holds no dead slots. */
  #ready: T[] = [];
  #head = 0;
  /** ordered: results that came before an earlier position's; `null` marks a dropped position. */
  readonly #held = new Map<number, T | null>();
  #nextPosition = 0;
  #released = 0;

  constructor(private readonly ordered: boolean) {}

  /** The result for input `index`, or `null` for an input that yields nothing (a failure the stream throws later). */
  put(index: number, result: T | null): void {
    if (result === null) this.#released++;
    if (!this.ordered) {
      if (result !== null) this.#ready.push(result);
      return;
    }
    this.#held.set(index, result);
    for (let next = this.#held.get(this.#nextPosition); next !== undefined; next = this.#held.get(this.#nextPosition)) {
      this.#held.delete(this.#nextPosition++);
      if (next !== null) this.#ready.push(next);
    }
  }

  /** The next ready result, or `undefined` when none is. */
  take(): T | undefined {
    if (this.#head === this.#ready.length) return undefined;
    const result = this.#ready[this.#head++]!;
    if (this.#head > 1024 && this.#head * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#head);
      this.#head = 0;
    }
    this.#released++;
    return result;
  }

  get hasReady(): boolean {
    return this.#head < this.#ready.length;
  }

  /** Positions the consumer no longer waits for: results taken, and inputs dropped. */
  get released(): number {
    return this.#released;
  }
}
