/**
 * Wakes whoever sleeps until something changed. stream()'s consumer and its reader both sleep
 * here; every change either may be waiting for (a result, a free request slot, a taken result,
 * the reader's end, an abort) wakes them all, and each checks again what it waits for.
 */
export class Wakeup {
  #sleepers: (() => void)[] = [];

  /** Resolves at the next wake(). */
  sleep(): Promise<void> {
    return new Promise((resolve) => this.#sleepers.push(resolve));
  }

  wake(): void {
    const woken = this.#sleepers;
    this.#sleepers = [];
    for (const resolve of woken) resolve();
  }
}
