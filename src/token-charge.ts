/**
 * What a request is charged against a tokens-per-minute budget when its texts were not counted:
 * their UTF-8 bytes times the tokens per byte the server reported for the model (its answers'
 * `usage.prompt_tokens`), learnt per client. Until an answer says, a byte is charged as a
 * token: an upper bound of any byte-level BPE count, so a budget is never overdrawn. Answers
 * then correct each charge (see `RateLimiter.reconcile`).
 */

/** Charged on top of the ratio learnt, so that texts denser in tokens than those seen so far are rarely undercharged. */
const TOKEN_ESTIMATE_MARGIN = 1.05;

interface Ratio {
  bytes: number;
  tokens: number;
}

const ratios = new WeakMap<object, Map<string, Ratio>>();

function ratioOf(client: object, model: string): Ratio {
  let byModel = ratios.get(client);
  if (byModel === undefined) ratios.set(client, (byModel = new Map<string, Ratio>()));
  let ratio = byModel.get(model);
  if (ratio === undefined) byModel.set(model, (ratio = { bytes: 0, tokens: 0 }));
  return ratio;
}

/** Whether an answer for `model` reported its tokens yet: until then estimates are a token per byte. */
export function knowsTokensPerByte(client: object, model: string): boolean {
  return ratioOf(client, model).bytes > 0;
}

/** Tokens to charge for `bytes` UTF-8 bytes of uncounted text sent to `model`: never more than `bytes`. */
export function estimateTokens(client: object, model: string, bytes: number): number {
  const ratio = ratioOf(client, model);
  if (ratio.bytes === 0 || bytes === 0) return bytes;
  return Math.min(bytes, Math.ceil((bytes * ratio.tokens * TOKEN_ESTIMATE_MARGIN) / ratio.bytes));
}

/** An answer's `usage.prompt_tokens` for `bytes` UTF-8 bytes of text (nothing is learnt from a server that reports 0). */
export function learnTokensPerByte(client: object, model: string, bytes: number, tokens: number): void {
  if (!(bytes > 0 && Number.isFinite(tokens) && tokens > 0)) return;
  const ratio = ratioOf(client, model);
  ratio.bytes += bytes;
  ratio.tokens += tokens;
}
