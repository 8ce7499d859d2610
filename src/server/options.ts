import { z } from 'zod';
import { InvalidArgumentError } from '../index.js';
import { MAX_DIMENSIONS } from './validate.js';

/*
 * The server's options are checked by a zod schema and fail with the library's
 * InvalidArgumentError, in the library's form: "Invalid createServer options: `dimensions` must
 * be an integer from 1 to 3072 (got 0)". The server reaches the library only through its
 * public entry point, so these few lines stand in for the library's internal formatter.
 */

function integerIn(min: number, max = Infinity) {
  const error =
    min === -Infinity
      ? 'must be an integer'
      : max === Infinity
        ? `must be an integer ≥ ${min}`
        : `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function numberIn(min: number, max = Infinity) {
  const error = max === Infinity ? `must be a number ≥ ${min}` : `must be a number from ${min} to ${max}`;
  return z.number({ error }).min(min, { error }).max(max, { error });
}

const ServerOptionsSchema = z
  .object(
    {
      dimensions: integerIn(1, MAX_DIMENSIONS).optional(),
      // Node's timers hold at most 2^31 - 1 ms; beyond it setTimeout fires after 1 ms instead.
      latency: numberIn(0, 2 ** 31 - 1).optional(),
      rpm: numberIn(1).optional(),
      tpm: numberIn(1).optional(),
      failRate: numberIn(0, 1).optional(),
      seed: integerIn(-Infinity).optional(),
      maxBodyBytes: integerIn(1).optional(),
      model: z
        .string({ error: 'must be a non-empty string' })
        .min(1, { error: 'must be a non-empty string' })
        .optional(),
      clock: z.custom<() => number>((value) => typeof value === 'function', 'must be a function').optional(),
    },
    { error: 'must be an object' },
  )
  .strict();

const ListenSchema = z.object({ port: integerIn(0, 65_535) });

function parse<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    throw new InvalidArgumentError(
      `Invalid ${what}: unknown field(s) ${issue.keys.map((key) => `\`${key}\``).join(', ')} (got object)`,
    );
  }
  const got = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown>)?.[key], value);
  // JSON.stringify would print NaN and Infinity as null.
  const shown =
    typeof got === 'number'
      ? String(got)
      : typeof got === 'object' && got !== null
        ? typeof got
        : (JSON.stringify(got) ?? String(got));
  throw new InvalidArgumentError(`Invalid ${what}: ${path ? `\`${path}\` ` : ''}${issue.message} (got ${shown})`);
}

/** Checks {@link createServer}'s options; throws `InvalidArgumentError` naming the option and value. */
export function parseServerOptions(options: unknown): void {
  parse(ServerOptionsSchema, 'createServer options', options);
}

/** Checks the port `listen()` is given. */
export function parsePort(port: unknown): void {
  parse(ListenSchema, 'listen() arguments', { port });
}
