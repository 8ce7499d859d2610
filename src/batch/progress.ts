import type { RateLimitSnapshot } from '../rate-limit/index.js';
import type { BatchProgress } from './types.js';

/** Counters of one batch job, reported through `onProgress`. */
export class ProgressTracker {
  completedInputs = 0;
  failedInputs = 0;
  requests = 0;
  retries = 0;
  rateLimited = 0;
  tokens = 0;
  private readonly startedAt: number;

  constructor(
    readonly totalInputs: number | undefined,
    private readonly onProgress: ((progress: BatchProgress) => void) | undefined,
    /** What the job's rate limiter believes, when it can say. */
    private readonly rateLimit: () => RateLimitSnapshot | undefined = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedAt = now();
  }

  /** Inputs that have ended, as a vector or as a failure. */
  get settledInputs(): number {
    return this.completedInputs + this.failedInputs;
  }

  snapshot(): BatchProgress {
    const elapsedMs = Math.max(0, this.now() - this.startedAt);
    const settled = this.settledInputs;
    // The pace so far, applied to what is left; unknowable before anything settled or without a total.
    const etaMs =
      this.totalInputs === undefined || settled === 0
        ? undefined
        : Math.round((elapsedMs / settled) * Math.max(0, this.totalInputs - settled));
    return {
      completedInputs: this.completedInputs,
      totalInputs: this.totalInputs,
      failedInputs: this.failedInputs,
      requests: this.requests,
      retries: this.retries,
      rateLimited: this.rateLimited,
      tokens: this.tokens,
      elapsedMs,
      etaMs,
      rateLimit: this.rateLimit(),
    };
  }

  /** Calls `onProgress`; its errors propagate so the job can stop on them. */
  report(): void {
    this.onProgress?.(this.snapshot());
  }
}
