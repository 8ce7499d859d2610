/**
 * What a worker paces on while Redis does not answer: a limiter of its own holding its share
 * of the budget last seen in Redis, so the workers together stay within it while each is cut
 * off from the others.
 */
import { InMemoryRateLimiter } from '../rate-limit/in-memory.js';
import type { RateLimit, RateLimitSnapshot } from '../rate-limit/types.js';
import type { ScriptBelief, ScriptSnapshot } from './rate-limiter-commands.js';

/** A limit below one request per hour is read as broken (see readRateLimitHeaders): none is sent. */
const MIN_LIMIT_PER_MINUTE = 1 / 60;

/**
 * A local limiter with `1 / workers` of the configured limits and of what the workers had
 * learnt (rate, burst, and what was left), workers counted as those seen alive in Redis. What
 * was learnt is taught to it as answers' headers would teach it, so it starts with its share of
 * what was left and not with one request alone; with nothing learnt it probes as a new client does.
 */
export function localShare(
  limits: Readonly<RateLimit>,
  last: ScriptSnapshot | undefined,
  onWarning: (message: string) => void,
): InMemoryRateLimiter {
  const workers = Math.max(1, last?.workers ?? 1);
  const limiter = new InMemoryRateLimiter({
    ...(limits.requestsPerMinute !== undefined && { requestsPerMinute: limits.requestsPerMinute / workers }),
    ...(limits.tokensPerMinute !== undefined && { tokensPerMinute: limits.tokensPerMinute / workers }),
    onWarning,
  });
  if (last === undefined) return limiter;
  // Two answers, as the server's would teach them: the first the share of the burst (the largest
  // `remaining` seen, plus its request), the second the share of what was left last seen.
  const answer = (level: (belief: ScriptBelief) => number | undefined) => {
    const headers: Record<string, string> = {};
    for (const [kind, belief, taken] of [
      ['requests', last.r, 1],
      ['tokens', last.t, 0],
    ] as const) {
      if (belief.pm !== undefined && belief.pm / workers >= MIN_LIMIT_PER_MINUTE) {
        headers[`x-ratelimit-limit-${kind}`] = String(belief.pm / workers);
      }
      const units = level(belief);
      if (units !== undefined) {
        headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.floor(units / workers) - taken));
      }
    }
    return headers;
  };
  const burst = answer((belief) => belief.cap);
  const left = answer((belief) => (belief.cap === undefined ? undefined : Math.min(belief.avail ?? 0, belief.cap)));
  if (Object.keys(burst).length > 0) {
    // Both turns are taken now, first in its line, before any waiter's; each is settled as it comes.
    const first = limiter.acquire({ tokens: 0 });
    const second = limiter.acquire({ tokens: 0 });
    void first.then((grant) => grant.complete({ status: 200, headers: burst }));
    void second.then((grant) => grant.complete({ status: 200, headers: left }));
  }
  return limiter;
}

/** The script's snapshot on this worker's clock, the tighter of configured and learnt per budget. */
export function toSnapshot(last: ScriptSnapshot, receivedAt: number): RateLimitSnapshot {
  const belief = (learnt: ScriptBelief, configured: ScriptBelief) => {
    const pick =
      configured.pm !== undefined && (learnt.pm === undefined || configured.pm <= learnt.pm) ? configured : learnt;
    return { perMinute: pick.pm, source: pick.src, burst: pick.cap, available: pick.avail };
  };
  const head = last.headWait;
  return {
    requests: belief(last.r, last.cr),
    tokens: belief(last.t, last.ct),
    headerStyle: last.style,
    concurrency: last.win,
    inFlight: last.flight,
    waiting: last.waiting,
    waitingUntil: head?.untilMs === undefined ? undefined : receivedAt + (head.untilMs - last.now),
    waitReason: head?.reason as RateLimitSnapshot['waitReason'],
    rateLimited: last.limited,
  };
}
