/** The failures a real provider produces under load, in the order the PRNG picks from. */
export const FAULT_STATUSES = Object.freeze([500, 502, 503, 429] as const);
export type FaultStatus = (typeof FAULT_STATUSES)[number];

/** Mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Decides, request by request, whether to fail and how. Each decision draws from one seeded
 * sequence, so the same seed and the same order of requests give the same failures.
 */
export class FaultInjector {
  private readonly random: () => number;

  constructor(
    private readonly failRate: number,
    seed: number,
  ) {
    this.random = mulberry32(seed);
  }

  /** The status to fail this request with, or undefined to serve it. */
  next(): FaultStatus | undefined {
    if (this.failRate <= 0) return undefined;
    if (this.random() >= this.failRate) return undefined;
    return FAULT_STATUSES[Math.floor(this.random() * FAULT_STATUSES.length)];
  }
}

/** What a reverse proxy in front of an API answers when the upstream is gone: HTML, not JSON. */
export const BAD_GATEWAY_HTML =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
