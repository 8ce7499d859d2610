// `embedrail batch`'s arguments, in one place for the benchmark and the tests that run it (a
// benchmark is plain JavaScript and cannot import the tests' TypeScript helpers).

/**
 * The arguments of `embedrail batch <input> --out <out> --journal <journal> --base-url <url>`,
 * then `more` (later flags override earlier ones).
 * @param {string} input
 * @param {string} url
 * @param {string} out
 * @param {string} journal
 * @param {...string} more
 * @returns {string[]}
 */
export function batchCommandArgs(input, url, out, journal, ...more) {
  return ['batch', input, '--out', out, '--journal', journal, '--base-url', url, ...more];
}
