/**
 * A job's requests in flight or waiting for a slot: p-limit keeps `maxConcurrency` of them
 * running, and `pending` counts both, so stream()'s reader can hold back while the window is full.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { Job } from './job.js';

export class RequestWindow {
  readonly #job: Job;
  readonly #limit: LimitFunction;
  readonly #onSettled: () => void;
  #pending = 0;

  /** `onSettled` runs each time a request leaves the window. */
  constructor(job: Job, maxConcurrency: number, onSettled: () => void = () => {}) {
    this.#job = job;
    this.#limit = pLimit(maxConcurrency);
    this.#onSettled = onSettled;
  }

  /** Requests in flight or waiting for a slot. */
  get pending(): number {
    return this.#pending;
  }

  /** Another request would start at once. */
  get hasRoom(): boolean {
    return this.#pending < this.#limit.concurrency;
  }

  /** Runs `send` in a slot. Never rejects: Job methods settle their own errors. */
  run(send: () => Promise<void>): Promise<void> {
    this.#pending++;
    return this.#limit(async () => {
      try {
        await send();
      } finally {
        this.#pending--;
        this.#onSettled();
      }
    }).catch((error: unknown) => {
      // Anything that escapes a Job method is a defect: it ends the job rather than passing silently.
      this.#job.halt(error);
    });
  }
}
