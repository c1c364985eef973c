/**
 * Whether the tier behind memory (the colo's Cache API) is worth asking: a
 * circuit breaker, as Envoy ejects an upstream after consecutive failures.
 * Each lookup it does not answer in time costs a request cache.lookupTimeoutMs;
 * after THRESHOLD of them in a row the breaker opens, and lookups and writes
 * skip the store (memory and the origin serve) for a cooling time that
 * doubles with each opening in a row, up to MAX_COOL_MS. Then one lookup at a
 * time tries the store again: an answer closes the breaker, another timeout
 * opens it for longer. Per isolate, as the memory tier is.
 */
export const STORE_BREAKER = { threshold: 3, baseCoolMs: 5_000, maxCoolMs: 60_000 } as const;

export class StoreBreaker {
  private timeoutsInARow = 0;
  /** 0 while closed; else when the cooling time ends (ms since the epoch). */
  private openUntil = 0;
  private openings = 0;
  /** A lookup is trying the store after its cooling time. */
  private probing = false;

  /** May a lookup ask the store now? While open, no; after the cooling time, one lookup at a time. */
  allowLookup(now: number): boolean {
    if (this.openUntil === 0) return true;
    if (now < this.openUntil || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** May a write go to the store? Only while closed: a store on probation gets lookups alone. */
  get writable(): boolean {
    return this.openUntil === 0;
  }

  /** The store answered a lookup (or failed it at once, which is an answer too). */
  answered(): void {
    this.timeoutsInARow = 0;
    this.openUntil = 0;
    this.openings = 0;
    this.probing = false;
  }

  /**
   * A lookup the store did not answer in time. `hadItsTime`: false when the request's budget
   * cut the wait short, which says nothing against the store (a probe cut short frees the next).
   */
  timedOut(now: number, hadItsTime = true): void {
    this.probing = false;
    if (!hadItsTime) return;
    this.timeoutsInARow++;
    if (this.openUntil === 0 && this.timeoutsInARow < STORE_BREAKER.threshold) return;
    this.openUntil = now + Math.min(STORE_BREAKER.maxCoolMs, STORE_BREAKER.baseCoolMs * 2 ** this.openings++);
  }
}
