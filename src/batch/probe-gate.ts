/**
 * Holds a job's requests back while one of them probes what the server accepts: until the
 * job's first answer while nothing is known of the server, and again after a refusal whose cap
 * is a guess. The requests held back wait before their bodies are made, so what the probe's
 * answer teaches sizes them, and a cap costs one refusal, not one per request in flight.
 */
export class ProbeGate {
  #closed: { promise: Promise<void>; resolve: () => void } | undefined;
  #probing = false;

  /** Holds every request back but the next to enter, until that one is answered. */
  close(): void {
    this.#probing = false;
    if (this.#closed !== undefined) return;
    let resolve!: () => void;
    const promise = new Promise<void>((done) => (resolve = done));
    this.#closed = { promise, resolve };
  }

  /** Lets every request go. */
  open(): void {
    const closed = this.#closed;
    this.#closed = undefined;
    this.#probing = false;
    closed?.resolve();
  }

  /**
   * Waits for a request's turn to go. Resolves true when it is the probe (it must call
   * {@link open} or {@link close} once answered), false when the gate is open. The probe is
   * chosen at once, before anything is awaited.
   */
  async enter(): Promise<boolean> {
    while (this.#closed !== undefined) {
      if (!this.#probing) {
        this.#probing = true;
        return true;
      }
      await this.#closed.promise;
    }
    return false;
  }
}
