/** Where a limiter's warnings go, and the one it gives of rate-limit headers it ignores. */

export type Warn = (message: string) => void;

/** To `onWarning` when the caller gave one, else to `process.emitWarning` with `code`. */
export function warningSink(onWarning: Warn | undefined, code: string): Warn {
  return (message) => {
    if (onWarning !== undefined) onWarning(message);
    else process.emitWarning(message, { code });
  };
}

/** Passes on the first message only: a limiter warns of unusable headers once, not per answer. */
export function firstOnly(warn: Warn): Warn {
  let warned = false;
  return (message) => {
    if (warned) return;
    warned = true;
    warn(message);
  };
}

/** The warning of a rate-limit header left out as unusable (see `readRateLimitHeaders`). */
export function unusableHeader(name: string, value: string): string {
  return `Ignoring the rate-limit header ${name}: ${JSON.stringify(value)} (not a usable value)`;
}
