/**
 * stream()'s reader: pulls the source one input at a time while the stream has room for more,
 * sends what was read when the source goes quiet, and records how reading ended (the source's
 * end, its error, or a halt) for the consumer.
 */
import { InvalidArgumentError } from '../errors.js';
import { preview } from '../schemas.js';
import type { StreamInput } from './types.js';
import type { Wakeup } from './wakeup.js';

/** A source that goes quiet holds a partial request back for at most this long. @unit ms */
const IDLE_FLUSH_MS = 100;

type Source = Iterator<StreamInput> | AsyncIterator<StreamInput>;

/** Where the reader hands what it reads: stream()'s requests, packed as inputs arrive. */
export interface ReadTarget {
  /** No more input is wanted (the job stopped, or a failure the stream will throw). */
  readonly stopped: boolean;
  /** Another input may be read now, `read` inputs having been read so far. */
  mayRead(read: number): boolean;
  /** Checks input `index`, merges and packs it, and sends each request it closes. */
  add(value: StreamInput, index: number): void;
  /** Sends the partial request if a slot is free; false when it could not. */
  sendPartial(): boolean;
  /** Reading ended: what was read is sent, or failed after a fatal error. */
  finish(): void;
}

export class SourceReader {
  readonly #source: Source;
  readonly #target: ReadTarget;
  readonly #wakeup: Wakeup;
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #count = 0;
  /** Since when the reader waits on the source, which may take any time (or never answer). */
  #waitingSince: number | undefined;
  #halted = false;
  #ended = false;
  #done = false;
  #error: unknown;

  constructor(source: Source, target: ReadTarget, wakeup: Wakeup) {
    this.#source = source;
    this.#target = target;
    this.#wakeup = wakeup;
  }

  /** Inputs read so far; the next one gets this index. */
  get count(): number {
    return this.#count;
  }

  /** The source said it is done, or threw: every input there is was read, and it needs no return() call. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The reader's task finished; what it read was handed on. */
  get done(): boolean {
    return this.#done;
  }

  /** What the source threw, if it did. */
  get error(): unknown {
    return this.#error;
  }

  /** Nothing more will be read, for now or for good. */
  get halted(): boolean {
    return this.#halted || this.#target.stopped;
  }

  /** Nothing more will come from the reader: it finished, or it waits on the source after a halt. */
  get idle(): boolean {
    return this.#done || (this.halted && this.#waitingSince !== undefined);
  }

  start(): void {
    // A trickling source (a pipe, a queue) still gets its results: what was read is sent once the
    // source has been silent for IDLE_FLUSH_MS, instead of waiting for a full request.
    this.#idleTimer = setInterval(() => {
      const silent = this.#waitingSince !== undefined && performance.now() - this.#waitingSince >= IDLE_FLUSH_MS;
      if (silent && !this.halted) this.#target.sendPartial();
    }, IDLE_FLUSH_MS);
    this.#idleTimer.unref();
    void this.#run();
  }

  /** Reads nothing more (the consumer left). */
  halt(): void {
    this.#halted = true;
    clearInterval(this.#idleTimer);
  }

  /** Closes a source that was not read to its end, so it can release a file or a connection. */
  close(): void {
    if (!this.#ended) void Promise.resolve(this.#source.return?.()).catch(() => {});
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        while (!this.halted && !this.#target.mayRead(this.#count)) {
          // Reading is held back but a slot is free: send the partial request instead of idling.
          if (!this.#target.sendPartial()) await this.#wakeup.sleep();
        }
        if (this.halted) break;
        this.#waitingSince = performance.now();
        let next: IteratorResult<StreamInput>;
        try {
          next = await this.#source.next();
        } catch (error) {
          this.#ended = true;
          throw error;
        }
        this.#waitingSince = undefined;
        if (next.done) this.#ended = true;
        if (next.done || this.halted) break;
        this.#target.add(next.value, this.#count++);
      }
    } catch (error) {
      this.#error = error;
    } finally {
      clearInterval(this.#idleTimer);
      this.#waitingSince = undefined;
      this.#target.finish();
      this.#done = true;
      this.#wakeup.wake();
    }
  }
}

/** The iterator of a stream() input, sync or async; anything else is refused before any request. */
export function iteratorOf(input: unknown): Source {
  if (typeof input === 'object' && input !== null) {
    const asyncFactory = (input as AsyncIterable<StreamInput>)[Symbol.asyncIterator];
    if (typeof asyncFactory === 'function') return asyncFactory.call(input);
    const syncFactory = (input as Iterable<StreamInput>)[Symbol.iterator];
    if (typeof syncFactory === 'function') return syncFactory.call(input);
  }
  throw new InvalidArgumentError(`\`input\` must be an iterable or async iterable of texts (got ${preview(input)})`);
}
