import { describe, expect, test } from 'vitest';
import { EXIT } from '../src/cli/io.js';
import { BATCH_DEFAULTS, DEFAULTS } from '../src/index.js';
import { BACKOFF } from '../src/retry.js';
import { FAULT_STATUSES } from '../src/server/faults.js';
import { SERVER_DEFAULTS } from '../src/server/index.js';

// A caller that writes to a shared defaults object would change every later client, job or
// server of the process; test files are ES modules, so strict mode makes the write throw.
describe('exported constant objects are frozen', () => {
  test.each([
    ['DEFAULTS', DEFAULTS, 'timeout'],
    ['BATCH_DEFAULTS', BATCH_DEFAULTS, 'maxInputsPerRequest'],
    ['SERVER_DEFAULTS', SERVER_DEFAULTS, 'dimensions'],
    ['BACKOFF', BACKOFF, 'maxDelay'],
    ['EXIT', EXIT, 'usage'],
    ['FAULT_STATUSES', FAULT_STATUSES, '0'],
  ])('%s refuses writes and keeps its values', (_name, value, key) => {
    const before = structuredClone(value);
    expect(Object.isFrozen(value)).toBe(true);
    expect(() => {
      (value as Record<string, unknown>)[key] = 1;
    }).toThrow(TypeError);
    expect(() => {
      (value as Record<string, unknown>).added = 1;
    }).toThrow(TypeError);
    expect(value).toEqual(before);
  });
});
