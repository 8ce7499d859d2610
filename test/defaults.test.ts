import { describe, expect, test } from 'vitest';
import { EXIT } from '../src/cli/io.js';
import * as entry from '../src/index.js';
import { BATCH_DEFAULTS, DEFAULTS } from '../src/index.js';
import * as redisEntry from '../src/redis/index.js';
import { BACKOFF } from '../src/retry.js';
import { FAULT_STATUSES } from '../src/server/faults.js';
import * as serverEntry from '../src/server/index.js';
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

  // Every constant an entry exports (a name in capitals), so that a new one cannot be left open.
  const constants = Object.entries({ ...entry, ...redisEntry, ...serverEntry }).filter(
    ([name, value]) => /^[A-Z][A-Z0-9_]*$/.test(name) && typeof value === 'object' && value !== null,
  );
  test('every constant object the package entries export is frozen, its nested objects too', () => {
    expect(constants.map(([name]) => name)).toEqual(
      expect.arrayContaining(['DISK_CACHE_DEFAULTS', 'REDIS_CACHE_DEFAULTS', 'INPUT_TYPES', 'RATE_LIMITER_DEFAULTS']),
    );
    const open = (value: object, path: string): string[] => [
      ...(Object.isFrozen(value) ? [] : [path]),
      ...Object.entries(value).flatMap(([key, inner]) =>
        typeof inner === 'object' && inner !== null ? open(inner as object, `${path}.${key}`) : [],
      ),
    ];
    expect(constants.flatMap(([name, value]) => open(value as object, name))).toEqual([]);
  });
});
