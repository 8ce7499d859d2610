/**
 * A full garbage collection on demand, for tests that measure what stays alive: without one,
 * how much garbage is still counted depends on when the engine (and which Node version) chose
 * to collect, and a bound on it is a guess.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Bytes of ArrayBuffers (Buffers included) still reachable, after a full collection. */
export function liveArrayBuffers(): number {
  collect();
  return process.memoryUsage().arrayBuffers;
}
