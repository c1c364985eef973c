/**
 * What a sync answer carries of the purge log: the rules after the isolate's
 * position, a page at a time, or (when it is further behind than a few pages
 * would mend: a new isolate after a deploy, one back from a long silence) a
 * pointer to the folded catch-up, one bounded answer with everything in force
 * (control/catch-up.ts), after which it pages the few rules that came since.
 */
import type { PurgeRule } from "../common/snapshot";
import { CatchUpFolds } from "./catch-up";
import type { ControlData } from "./control-data";
import type { ControlStorage } from "./storage";

export const DEFAULT_PURGE_PAGE = 2000;

export interface PurgePageOptions {
  /** Purge rules per sync answer. */
  pageSize: number;
  /** Rules behind past which an isolate is sent to the catch-up rather than pages. */
  catchUpAfter: number;
}

export class PurgePages {
  /** The last page read, by version and position: a purge answers every held sync from one read. */
  private memo: { version: number; after: number; purges: PurgeRule[] } | undefined;
  private readonly folds: CatchUpFolds;

  constructor(
    private readonly storage: ControlStorage,
    horizonMs: () => number,
    private readonly options: PurgePageOptions,
  ) {
    this.folds = new CatchUpFolds(storage, horizonMs);
  }

  /** Rules an isolate may be behind and still page (a regional relay keeps this many of the newest). */
  get window(): number {
    return this.options.catchUpAfter;
  }

  /** The rules to send an isolate at `purgeSeq`, or `catchUp` when it should fetch the catch-up first. */
  async after(data: ControlData, purgeSeq: number): Promise<{ purges: PurgeRule[]; catchUp?: true }> {
    if (purgeSeq >= data.purgeSeq) return { purges: [] };
    if (data.purgeSeq - purgeSeq > this.options.catchUpAfter) return { purges: [], catchUp: true };
    const memo = this.memo;
    if (memo && memo.version === data.version && memo.after === purgeSeq) return { purges: memo.purges };
    const purges = await this.storage.purgesAfter(purgeSeq, this.options.pageSize);
    this.memo = { version: data.version, after: purgeSeq, purges };
    return { purges };
  }

  /** Catch-ups served since the object started, and the last one's bytes (for /metrics). */
  readonly catchUps = { served: 0, lastBytes: 0 };

  /** The folded catch-up, close enough to the newest rule that what is left comes in pages. */
  async catchUp(data: ControlData, now: number): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = await this.folds.answer({ epoch: data.epoch, purgeSeq: data.purgeSeq }, now, Math.floor(this.options.catchUpAfter / 2));
    this.catchUps.served++;
    this.catchUps.lastBytes = bytes.length;
    return bytes;
  }
}
