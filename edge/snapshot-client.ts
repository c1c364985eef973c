/**
 * The POP's copy of the control plane's snapshot. A request never waits for
 * it except on a cold start (and then only briefly); afterwards it is
 * refreshed in the background, and when the control plane cannot be reached
 * the POP keeps serving from the last snapshot it had.
 */
import { EMPTY_SNAPSHOT, type Snapshot } from "../control/snapshot";
import { waitAtMost } from "./wait";

export interface SnapshotClientOptions {
  /** The CONTROL binding (a service binding on Cloudflare and locally alike). */
  control: Fetcher | undefined;
  controlHost: string;
  popToken: string | undefined;
  popName: string;
  refreshMs: number;
  coldStartWaitMs: number;
  /** What the POP reports with each sync: purge sequence applied, counters. */
  syncReport: () => { purgeSeq: number; epoch?: string; counters: Record<string, number>; origins: Record<string, { requests: number; errors: number; ejected: boolean }> };
  /**
   * Called with each newer snapshot before it becomes current (to apply purge
   * rules), with the control plane's clock minus ours and the uncertainty of
   * that; returns the highest purge sequence now applied.
   */
  onSnapshot: (next: Snapshot, clockOffsetMs: number, uncertaintyMs: number) => number;
}

/** Pages of purge rules one refresh may fetch (a page is up to 2,000 rules). */
const MAX_PAGES_PER_REFRESH = 50;

/** A POP that has not synced for this many refresh intervals waits for a sync before answering. */
const IDLE_FACTOR = 3;

export class SnapshotClient {
  private current: Snapshot = EMPTY_SNAPSHOT;
  private fetchedAt = 0;
  private inflight: Promise<void> | undefined;
  lastError: string | undefined;
  lastSyncAt = 0;

  constructor(private readonly options: SnapshotClientOptions) {}

  get snapshot(): Snapshot {
    return this.current;
  }

  /**
   * The snapshot to use for this request. Cold: wait for the first fetch, at
   * most coldStartWaitMs (the returned promise). Warm: undefined; a refresh
   * runs behind the request when due.
   */
  forRequest(waitUntil: (p: Promise<unknown>) => void, now: number): Promise<void> | undefined {
    if (!this.options.control) return undefined;
    const age = now - this.fetchedAt;
    if (this.fetchedAt === 0 || age >= this.options.refreshMs * IDLE_FACTOR) {
      // Cold, or idle for a while (a purge may have come meanwhile): this request
      // waits for the sync, briefly, rather than serve what was purged.
      const sync = this.refresh(now);
      waitUntil(sync);
      return waitAtMost(sync, this.options.coldStartWaitMs, undefined);
    }
    if (age >= this.options.refreshMs) waitUntil(this.refresh(now));
    // Warm: nothing to wait for, so the hit path stays synchronous.
    return undefined;
  }

  /** Sends passive-health events to the control plane; a failure keeps them for the next try. */
  async report(events: unknown[]): Promise<boolean> {
    const control = this.options.control;
    if (!control || events.length === 0) return true;
    try {
      const response = await control.fetch(`https://${this.options.controlHost}/v1/reports`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.options.popToken ? { authorization: `Bearer ${this.options.popToken}` } : {}),
        },
        body: JSON.stringify({ pop: this.options.popName, events }),
        signal: AbortSignal.timeout(2000),
      });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  /** One sync; true when the control plane holds purge rules this POP has not applied yet. */
  private async syncOnce(): Promise<boolean> {
    const control = this.options.control!;
    const sentAt = Date.now();
    const response = await control.fetch(`https://${this.options.controlHost}/v1/sync`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(this.options.popToken ? { authorization: `Bearer ${this.options.popToken}` } : {}),
      },
      body: JSON.stringify({ pop: this.options.popName, have: this.current.version, ...this.options.syncReport() }),
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`control plane answered ${response.status}`);
    }
    const next = (await response.json()) as Snapshot;
    const receivedAt = Date.now();
    if (typeof next.version !== "number") throw new Error("control plane sent no snapshot version");
    const applied = this.options.onSnapshot(next, next.generatedAt - (sentAt + receivedAt) / 2, (receivedAt - sentAt) / 2);
    // A new epoch is a control plane that started over: its versions count from 1 again.
    if (next.version >= this.current.version || next.purgeEpoch !== this.current.purgeEpoch) this.current = next;
    return next.purges.length > 0 && applied < next.purgeSeq;
  }

  refresh(now: number): Promise<void> {
    if (this.inflight) return this.inflight;
    const control = this.options.control;
    if (!control) return Promise.resolve();
    this.fetchedAt = now; // a failed attempt also waits refreshMs before the next one
    this.inflight = (async () => {
      try {
        // A POP far behind (new, or back after an outage) gets rules in pages: it asks again at once.
        for (let page = 0; page < MAX_PAGES_PER_REFRESH; page++) {
          const behind = await this.syncOnce();
          if (!behind) break;
        }
        this.lastError = undefined;
        this.lastSyncAt = Date.now();
      } catch (err) {
        this.lastError = `control plane unreachable: ${(err as Error).message}`;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}
