/**
 * A token bucket per API token, per control isolate: enough to stop a
 * runaway script; not a global quota (that would cost a Durable Object
 * round trip per request). Pure: time is a parameter.
 */
/** Buckets kept at most: keyed by client address, they must not grow with an attacker's addresses. */
const MAX_BUCKETS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perMinute: number) {}

  /** Forgets buckets that have refilled (they equal a new one), then the oldest, until there is room. */
  private makeRoom(now: number): void {
    const fullAfterMs = 60_000;
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= fullAfterMs) this.buckets.delete(key);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < MAX_BUCKETS) break;
      this.buckets.delete(key);
    }
  }

  /** Takes one request from the bucket; when empty, the seconds until the next one. */
  take(key: string, now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const capacity = Math.max(1, this.perMinute);
    const ratePerMs = capacity / 60_000;
    if (this.buckets.size >= MAX_BUCKETS && !this.buckets.has(key)) this.makeRoom(now);
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * ratePerMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerMs / 1000)) };
  }
}
