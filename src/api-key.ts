import { InvalidArgumentError } from './errors.js';
import { checkHeaderValue } from './headers.js';

/** What the client tells an `apiKey` function (or Azure `tokenProvider`) each time it calls it. */
export interface ApiKeyRequest {
  /**
   * The server refused (401) a key this function gave: return a new one, not one cached.
   * `false` before every ordinary attempt, where a cached key that is still valid is right.
   */
  forceRefresh: boolean;
}

/**
 * Gives the key (or token) for one attempt: called before each attempt, so an expiring token
 * (Microsoft Entra ID's live 60–90 minutes) is fetched again as it runs out. Cache inside it:
 * `getBearerTokenProvider` from `@azure/identity` does.
 */
export type ApiKeyFunction = (request: ApiKeyRequest) => string | Promise<string>;

/** The key for one attempt, and which refresh of the function's keys it came after. */
export interface AttemptKey {
  key: string | undefined;
  generation: number;
}

/**
 * The client's key: a string, or a function called before each attempt. The function's keys
 * are never kept: each lives in the attempt that asked for it. After a 401, one refresh is
 * shared by every request refused with a key from before it, so a token that expires under 8
 * requests in flight costs the provider one forced call, not 8.
 */
export class ApiKeySource {
  readonly #key: string | ApiKeyFunction | undefined;
  /** Forced refreshes completed: a key fetched at an older generation is known to be replaced. */
  #generation = 0;
  #refreshing: Promise<void> | undefined;

  constructor(key: string | ApiKeyFunction | undefined) {
    this.#key = key;
  }

  /** Whether a 401 may be cured by asking for a fresh key. */
  get refreshable(): boolean {
    return typeof this.#key === 'function';
  }

  /** The key to send now. */
  async get(): Promise<AttemptKey> {
    const source = this.#key;
    if (typeof source !== 'function') return { key: source, generation: 0 };
    // A key asked for while a refresh runs may be the very one being replaced.
    if (this.#refreshing) await this.#refreshing.catch(() => undefined);
    const generation = this.#generation;
    return { key: checked(await source({ forceRefresh: false })), generation };
  }

  /**
   * After a 401 for a key of `generation`: a forced refresh, or the one already running or done
   * since that key was fetched. Resolves `true` when another attempt may succeed.
   */
  async refreshAfter(generation: number): Promise<boolean> {
    const source = this.#key;
    if (typeof source !== 'function') return false;
    if (generation < this.#generation) return true;
    if (!this.#refreshing) {
      const refreshing = (async () => {
        // Its key is not used: the next attempt asks again and gets it from the function's cache.
        checked(await source({ forceRefresh: true }));
        this.#generation++;
      })();
      this.#refreshing = refreshing;
      void refreshing
        .finally(() => {
          if (this.#refreshing === refreshing) this.#refreshing = undefined;
        })
        .catch(() => undefined);
    }
    await this.#refreshing;
    return true;
  }
}

/** A function's key must be a header value; the value itself is never printed. */
function checked(key: unknown): string {
  if (typeof key !== 'string' || key === '') {
    const got = typeof key === 'string' ? 'an empty string' : key === null ? 'null' : typeof key;
    throw new InvalidArgumentError(
      `The \`apiKey\` (or \`tokenProvider\`) function must return a non-empty string (got ${got})`,
    );
  }
  checkHeaderValue(key, 'The key returned by the `apiKey` (or `tokenProvider`) function');
  return key;
}
