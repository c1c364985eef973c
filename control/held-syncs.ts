/**
 * Syncs the control plane holds open (long polls) until it has news for
 * them or their bound runs out; nothing is read from storage while they wait.
 */
import { MAX_SYNC_WAIT_MS } from "../common/wire";

/**
 * Syncs held at once; past it the oldest is answered ("nothing new") to make room, and its isolate
 * re-arms at once: with more busy isolates than this, every hold evicts another and the object
 * answers thousands of syncs a second (`npm run bench -- --only scale` showed 15,600 a second for
 * 10,000 isolates at 5,000). A held sync costs a closure and a timer (well under 1 KB).
 */
export const MAX_HELD_SYNCS = 20_000;

export class HeldSyncs {
  /** Each held sync's release, oldest first. */
  private readonly held = new Set<() => void>();

  /** Resolves on news (releaseAll) or after `waitMs` (at most MAX_SYNC_WAIT_MS). */
  hold(waitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.held.delete(release);
        resolve();
      };
      const timer = setTimeout(release, Math.min(waitMs, MAX_SYNC_WAIT_MS));
      if (this.held.size >= MAX_HELD_SYNCS) this.held.values().next().value?.();
      this.held.add(release);
    });
  }

  /** News: every held sync answers now. */
  releaseAll(): void {
    const waiting = [...this.held];
    this.held.clear();
    for (const release of waiting) release();
  }

  get size(): number {
    return this.held.size;
  }
}
