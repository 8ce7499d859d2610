/**
 * What a limiter sent and what the answers have counted of it: an answer's `remaining` is the
 * truth as of its own request, so the limiter needs to know what was sent after that request,
 * what is still in flight, and all it sent, per budget.
 */
import type { Observation } from './budget.js';

export type Kind = 'requests' | 'tokens';
export const KINDS: readonly Kind[] = ['requests', 'tokens'];

/** What a request of `tokens` costs in one budget. */
export function cost(kind: Kind, tokens: number): number {
  return kind === 'requests' ? 1 : tokens;
}

/** One request started: its sequence number, its tokens, and when it started. */
export interface Sent {
  seq: number;
  tokens: number;
  sentAt: number;
}

export class SentLedger {
  /** Started and not yet settled, by sequence number. */
  private readonly inFlight = new Map<number, Sent>();
  /** Started after the last answer whose `remaining` was applied, and not refused. */
  private unsynced: Sent[] = [];
  private syncedSeq = 0;
  private seq = 0;
  /** All sent and not refused, per budget. */
  private readonly total = { requests: 0, tokens: 0 };

  /** Requests started and not yet settled. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  start(tokens: number, now: number): Sent {
    const sent: Sent = { seq: ++this.seq, tokens, sentAt: now };
    for (const kind of KINDS) this.total[kind] += cost(kind, tokens);
    this.inFlight.set(sent.seq, sent);
    this.unsynced.push(sent);
    return sent;
  }

  /** Its attempt ended, answered or not. */
  settled(sent: Sent): void {
    this.inFlight.delete(sent.seq);
  }

  /** Whether no answer to a request started later has been synced yet: its own answer is news. */
  isUnsynced(sent: Sent): boolean {
    return sent.seq > this.syncedSeq;
  }

  /** A token estimate was corrected by `difference`. */
  correct(difference: number): void {
    this.total.tokens += difference;
  }

  /** The server took nothing for a refused attempt: it no longer counts as sent. */
  refund(sent: Sent): void {
    this.unsynced = this.unsynced.filter((s) => s !== sent);
    for (const kind of KINDS) this.total[kind] -= cost(kind, sent.tokens);
  }

  /**
   * Only an answer still to come can ask what was sent after it: what started before every
   * request in flight is never needed again (without headers nothing is ever synced, and a
   * long job would otherwise keep every request it sent).
   */
  forget(): void {
    const oldest = this.inFlight.keys().next().value ?? Infinity;
    let drop = 0;
    while (drop < this.unsynced.length && this.unsynced[drop]!.seq < oldest) drop++;
    if (drop > 0) this.unsynced.splice(0, drop);
  }

  /**
   * The answer to `sent` is applied: what it says is the truth as of it, less what was sent
   * after it. Returns where it stands in each budget.
   */
  sync(sent: Sent, charged: boolean): Record<Kind, Observation> {
    this.syncedSeq = sent.seq;
    this.unsynced = this.unsynced.filter((s) => s.seq > sent.seq);
    const observations = {} as Record<Kind, Observation>;
    for (const kind of KINDS) {
      const uncounted = this.unsynced.reduce((sum, s) => sum + cost(kind, s.tokens), 0);
      observations[kind] = {
        sentAt: sent.sentAt,
        cost: cost(kind, sent.tokens),
        charged,
        uncounted,
        // Everything started after this request is still unsynced, unless refused.
        sentSoFar: this.total[kind] - uncounted,
        crossing: [...this.inFlight.values()].reduce((sum, s) => sum + cost(kind, s.tokens), 0),
      };
    }
    return observations;
  }
}
