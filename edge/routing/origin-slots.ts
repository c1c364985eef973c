/**
 * Circuit breaking, as Envoy's max_requests: how many requests this isolate
 * may have waiting on one origin's answer at once. An origin that slows down
 * gathers requests; past its limit the next request goes to another origin,
 * or ends stale or in a 503, instead of joining a queue the origin cannot
 * drain. A request holds its slot from the moment it is sent until its
 * status line comes or it fails: a body's pace is the body idle timeout's
 * to judge. Per isolate, as each Envoy counts its own. Pure.
 */
export class OriginSlots {
  private readonly waiting = new Map<string, number>();

  /** A slot on the origin under `limit`, as its release (which frees it once, however often called); undefined when none is free. */
  take(originId: string, limit: number): (() => void) | undefined {
    const held = this.waiting.get(originId) ?? 0;
    if (held >= limit) return undefined;
    this.waiting.set(originId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.waiting.get(originId) ?? 1) - 1;
      if (left > 0) this.waiting.set(originId, left);
      else this.waiting.delete(originId);
    };
  }

  /** Requests waiting on the origin's answer now. */
  waitingOn(originId: string): number {
    return this.waiting.get(originId) ?? 0;
  }
}
