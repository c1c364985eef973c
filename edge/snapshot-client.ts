/**
 * The POP's copy of the control plane's snapshot. A request never waits for
 * it except on a cold start (and then only briefly); afterwards it is
 * refreshed in the background, and when the control plane cannot be reached
 * the POP keeps serving from the last snapshot it had.
 */
import { EMPTY_SNAPSHOT, type Snapshot } from "../control/snapshot";

export interface SnapshotClientOptions {
  /** The CONTROL binding (a service binding on Cloudflare and locally alike). */
  control: Fetcher | undefined;
  controlHost: string;
  popToken: string | undefined;
  popName: string;
  refreshMs: number;
  coldStartWaitMs: number;
}

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
    if (this.fetchedAt === 0) {
      const first = this.refresh(now);
      waitUntil(first);
      return Promise.race([first, new Promise<void>((r) => setTimeout(r, this.options.coldStartWaitMs))]);
    }
    if (now - this.fetchedAt >= this.options.refreshMs) waitUntil(this.refresh(now));
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

  refresh(now: number): Promise<void> {
    if (this.inflight) return this.inflight;
    const control = this.options.control;
    if (!control) return Promise.resolve();
    this.fetchedAt = now; // a failed attempt also waits refreshMs before the next one
    this.inflight = (async () => {
      try {
        const url = `https://${this.options.controlHost}/v1/snapshot?pop=${encodeURIComponent(this.options.popName)}&have=${this.current.version}`;
        const response = await control.fetch(url, {
          headers: this.options.popToken ? { authorization: `Bearer ${this.options.popToken}` } : {},
          signal: AbortSignal.timeout(2000),
        });
        if (!response.ok) {
          this.lastError = `control plane answered ${response.status}`;
          await response.body?.cancel();
          return;
        }
        const next = (await response.json()) as Snapshot;
        if (typeof next.version === "number" && next.version >= this.current.version) this.current = next;
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
