import { InvalidArgumentError } from './errors.js';

/** Header values to send; `null` removes a header set at a lower level (defaults or client). */
export type HeadersInput = Record<string, string | null | undefined>;

/** Lower-cases names; later layers win; `null`/`undefined` removes. */
export function mergeHeaders(...layers: HeadersInput[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer)) {
      const key = name.toLowerCase();
      if (value === null || value === undefined) delete out[key];
      else out[key] = value;
    }
  }
  return out;
}

// RFC 9110 token characters for names; values may not hold control characters (CR, LF, NUL).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE_FORBIDDEN = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Refuses what undici would refuse, before any request and naming where it came from: a key
 * read from a file with its trailing newline would otherwise surface as a connection error,
 * retried. Values are never printed: they may hold the key.
 */
export function checkHeaderValue(value: string | null | undefined, subject: string): void {
  const bad = value == null ? null : HEADER_VALUE_FORBIDDEN.exec(value);
  if (bad) {
    const char = `U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new InvalidArgumentError(`${subject} holds a character not allowed in an HTTP header (${char})`);
  }
}

/** Checks every header name and value of `headers`, the option called `option`. */
export function checkHeaders(headers: HeadersInput, option: string): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) {
      throw new InvalidArgumentError(`\`${option}\`: ${JSON.stringify(name)} is not a valid header name`);
    }
    checkHeaderValue(value, `\`${option}\` header ${JSON.stringify(name)}`);
  }
}
