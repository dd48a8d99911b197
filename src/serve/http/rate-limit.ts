// A token bucket: at most `perSecond` requests per second, bursts up to one second's worth. One for the
// whole process protects the database behind the API (serve.rateLimitPerSecond); each API key with a
// rate limit has one of its own (serve-auth.ts). 0 turns it off.
export class RateLimit {
  private tokens: number;
  private last = performance.now();

  constructor(readonly perSecond: number) {
    this.tokens = perSecond;
  }

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** True when a request may go ahead now. */
  take(): boolean {
    if (this.perSecond <= 0) return true;
    const now = performance.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
