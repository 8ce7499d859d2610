// Deterministic generated texts for the benchmarks: readable-ish sentences of varied length,
// each unique (its number is in it) so deduplication cannot shrink the work; and the helpers
// the memory benchmarks share.
import { readFileSync, writeFileSync } from 'node:fs';

const MB = 1024 * 1024;

const SUBJECTS = [
  'The engine',
  'A client',
  'Our team',
  'The server',
  'Each worker',
  'The index',
  'A reader',
  'The batch',
];
const VERBS = ['sends', 'reads', 'stores', 'ranks', 'splits', 'retries', 'counts', 'embeds', 'caches', 'streams'];
const OBJECTS = [
  'every passage of the corpus',
  'short notes about gardening',
  'long reports on river traffic',
  'the questions users asked today',
  'recipes for bread and soup',
  'logs from the night shift',
  'articles about distant galaxies',
  'reviews of old jazz records',
];
const TAILS = [
  '',
  ' before noon',
  ' in small groups',
  ' without losing one',
  ' as fast as the limits allow',
  ' twice a day',
];

/** The `i`-th text: the same on every run. */
export function textAt(i) {
  const pick = (list, salt) => list[(Math.imul(i + 1, 2_654_435_761 + salt) >>> 0) % list.length];
  return `${i}. ${pick(SUBJECTS, 0)} ${pick(VERBS, 7)} ${pick(OBJECTS, 13)}${pick(TAILS, 29)}.`;
}

/** `count` texts, produced one at a time: the caller never holds the corpus. */
export function* generateTexts(count) {
  for (let i = 0; i < count; i++) yield textAt(i);
}

/** Writes the corpus's first `lines` texts to `path`, one a line. */
export function writeCorpusFile(path, lines) {
  const parts = [];
  for (let i = 0; i < lines; i++) parts.push(`${textAt(i)}\n`);
  writeFileSync(path, parts.join(''));
}

/** Peak resident set of process `pid` so far, in bytes; undefined off Linux or once it exited. */
export function peakRss(pid) {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Prints the line a memory benchmark ends with: the `who` process's peak RSS and its verdict
 * against `targetMb`, judged only for a run that exited 0 on a system with /proc.
 */
export function printPeak(who, peak, code, targetMb = 300) {
  const verdict =
    code !== 0
      ? 'not judged (the run did not finish)'
      : peak === 0
        ? 'not measured (no /proc)'
        : peak < targetMb * MB
          ? 'met'
          : 'MISSED';
  console.log(`   ${who} peak RSS (VmHWM): ${(peak / MB).toFixed(0)} MB   target < ${targetMb} MB: ${verdict}`);
}
