// A token bucket for the whole process: at most `perSecond` lookups per second, bursts up to one
// second's worth. It protects the database behind the API; per-client fairness belongs to the gateway
// in front, which sees the real client addresses. 0 turns it off.
export class RateLimit {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly perSecond: number) {
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
