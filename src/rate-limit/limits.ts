/** The checks every limiter's options share: limits and durations are numbers > 0. */
import { InvalidArgumentError } from '../errors.js';
import type { RateLimit } from './types.js';

/** The error of `owner`'s option `name`, naming the rule it breaks and the value it got. */
export function optionError(owner: string, name: string, rule: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Invalid ${owner} options: \`${name}\` must be ${rule} (got ${String(value)})`);
}

/** Throws for the first of `names` in `options` that is set and not a finite number > 0. */
export function checkPositive<T extends object>(owner: string, options: T, names: readonly (keyof T & string)[]): void {
  for (const name of names) {
    const value = options[name];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw optionError(owner, name, 'a number > 0', value);
    }
  }
}

/** The limits `owner` was configured with, checked and frozen, the unset ones left out. */
export function configuredLimits(owner: string, options: RateLimit): Readonly<RateLimit> {
  checkPositive(owner, options, ['requestsPerMinute', 'tokensPerMinute']);
  const { requestsPerMinute, tokensPerMinute } = options;
  return Object.freeze({
    ...(requestsPerMinute !== undefined && { requestsPerMinute }),
    ...(tokensPerMinute !== undefined && { tokensPerMinute }),
  });
}
