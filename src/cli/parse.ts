import { InvalidArgumentError } from 'commander';

// Commander prefixes these messages with the flag and the value it got, e.g.
// "option '--concurrency <n>' argument '0' is invalid. must be an integer ≥ 1".

/** An integer flag within [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`must be an integer ${range}.`);
    }
    return n;
  };
}

/** A finite number within [min, max]. */
export function number(min: number, max = Number.POSITIVE_INFINITY): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      const range = max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`must be a number ${range}.`);
    }
    return n;
  };
}

/** A finite number greater than 0 and at most `max`. */
export function positiveUpTo(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(`must be a number > 0${max === Number.POSITIVE_INFINITY ? '' : ` and ≤ ${max}`}.`);
    }
    return n;
  };
}

/** A finite number greater than 0 (a rate of 0 would never send anything). */
export const positive = positiveUpTo(Number.POSITIVE_INFINITY);

/** A non-empty string (an empty `--model ''` is a typo, not a choice). */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty.');
  return value;
}
