/**
 * A retry budget (as in Envoy and Finagle): retries may add at most `ratio`
 * of the requests of the last ten seconds, plus a small floor per second, so
 * that when origins struggle, retries cannot multiply the load. Pure.
 */
const WINDOW_MS = 10_000;

export class RetryBudget {
  private bucketStart = 0;
  private requests = [0, 0];
  private retries = [0, 0];

  constructor(
    private readonly ratio: number,
    private readonly minPerSecond: number,
  ) {}

  private roll(now: number): void {
    const half = WINDOW_MS / 2;
    if (now - this.bucketStart >= WINDOW_MS) {
      this.requests = [0, 0];
      this.retries = [0, 0];
      this.bucketStart = now;
    } else if (now - this.bucketStart >= half) {
      this.requests = [this.requests[1], 0];
      this.retries = [this.retries[1], 0];
      this.bucketStart += half;
    }
  }

  onRequest(now: number): void {
    this.roll(now);
    this.requests[1]++;
  }

  /** Takes one retry from the budget if there is one. */
  tryRetry(now: number): boolean {
    this.roll(now);
    const requests = this.requests[0] + this.requests[1];
    const retries = this.retries[0] + this.retries[1];
    const allowed = Math.max(this.minPerSecond * (WINDOW_MS / 1000), Math.floor(requests * this.ratio));
    if (retries >= allowed) return false;
    this.retries[1]++;
    return true;
  }
}
