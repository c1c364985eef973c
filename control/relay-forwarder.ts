/**
 * The relay's upward half: what its isolates told it (where each is, its
 * figures, passive events), kept one entry per isolate and sent to the
 * global object in a batch at most every RELAY_FLUSH_MS, sooner after news
 * reached them. Apart from the relay's sync (control/relay.ts) because its
 * own timing and backoff are its whole concern.
 */
import type { Report, SyncReport } from "../common/wire";
import { memberKey } from "./colos";
import type { RelayBatch, RelayedSync } from "./relay-protocol";

/** What is forwarded waits at most this long; sooner after news reached its isolates. */
export const RELAY_FLUSH_MS = 1000;
export const RELAY_FLUSH_SOON_MS = 5;
/** Isolates' syncs forwarded per batch at most (a batch is one RPC message). */
const MAX_BATCH_SYNCS = 500;
/** Reports waiting to go upstream at most; past it the oldest go (figures come again; events are rarer than this). */
const MAX_QUEUED_REPORTS = 2000;

export interface RelayForwarderOptions {
  name: string;
  forward: (batch: RelayBatch) => Promise<void>;
  /** The relay's own sync loop runs and fails: it is the one probe of an absent global object, so batches wait. */
  syncFailing: () => boolean;
  /** Isolates' syncs the relay holds now. */
  held: () => number;
  /** A failed forward: counts the failure, says how long to back off. */
  failed: () => number;
  now: () => number;
}

/** Where an isolate's held sync stands, as the relay last noted it. */
export interface HeldPosition {
  report: SyncReport;
  /** The newest rule sent, in `epoch`'s numbering. */
  position: number;
  epoch: string | undefined;
  heldUntil: number | undefined;
}

export class RelayForwarder {
  private readonly pending = new Map<string, RelayedSync>();
  private readonly reports = new Map<string, Report>();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private flushDue = 0;
  /** After a failed forward no batch goes before this (its backoff; infinite: until the failing sync gets through). */
  private flushNotBefore = 0;

  constructor(private readonly options: RelayForwarderOptions) {}

  /**
   * The isolate's position, for the next batch. Its figures go only as of the sync's arrival (`arrived`):
   * later notes (news sent, the bound) must not put the figures it armed with over newer ones it reported.
   */
  note(stream: HeldPosition, flushInMs: number, arrived = false): void {
    const key = memberKey(stream.report.pop, stream.report.isolate);
    const queued = this.pending.get(key);
    const { pop, isolate, have, purgeSeq, epoch, mode } = stream.report;
    const report = arrived ? stream.report : (queued?.report ?? { pop, isolate, have, purgeSeq, epoch, mode });
    if (arrived) this.dropQueuedFigures(key);
    this.pending.delete(key);
    const held = stream.heldUntil !== undefined ? { heldUntil: stream.heldUntil } : {};
    this.pending.set(key, { report, delivered: stream.position, ...(stream.epoch ? { epoch: stream.epoch } : {}), at: this.options.now(), ...held });
    this.scheduleFlush(flushInMs);
  }

  /** A report (passive events, figures between syncs) for the global object, in the next batch. */
  report(report: Report): void {
    const key = memberKey(report.pop, report.isolate);
    const queued = this.reports.get(key);
    const events = [...(queued?.events ?? []), ...report.events].slice(-100);
    this.reports.delete(key);
    this.reports.set(key, { ...report, metrics: report.metrics ?? queued?.metrics, events });
    if (this.reports.size > MAX_QUEUED_REPORTS) this.reports.delete(this.reports.keys().next().value!);
    this.scheduleFlush(events.length > 0 ? RELAY_FLUSH_SOON_MS : RELAY_FLUSH_MS);
  }

  /** The global object answers the relay's sync again: what waited goes a flush interval later. */
  recovered(): void {
    if (this.flushNotBefore === 0) return;
    this.flushNotBefore = 0;
    this.scheduleFlush(RELAY_FLUSH_MS);
  }

  /** The relay's sync loop stopped: batches that waited on it retry on their own backoff now. */
  syncStopped(backoffMs: number): void {
    if (this.flushNotBefore !== Number.POSITIVE_INFINITY) return;
    this.flushNotBefore = 0;
    this.scheduleFlush(backoffMs);
  }

  /** A sync's figures are newer than a report's still queued: the report keeps its events only. */
  private dropQueuedFigures(key: string): void {
    const queued = this.reports.get(key);
    if (!queued) return;
    if (queued.events.length === 0) this.reports.delete(key);
    else this.reports.set(key, { ...queued, metrics: undefined });
  }

  private scheduleFlush(inMs: number): void {
    const now = this.options.now();
    const due = Math.max(now + inMs, this.flushNotBefore);
    if (due === Number.POSITIVE_INFINITY || (this.flushTimer !== undefined && this.flushDue <= due)) return;
    clearTimeout(this.flushTimer);
    this.flushDue = due;
    this.flushTimer = setTimeout(() => void this.flush(), due - now);
  }

  /** Sends what waits upstream; what fails to go stays (newer figures replace it) and goes after a backoff. */
  private async flush(): Promise<void> {
    this.flushTimer = undefined;
    if (this.options.syncFailing()) return void (this.flushNotBefore = Number.POSITIVE_INFINITY);
    const syncs = [...this.pending].slice(0, MAX_BATCH_SYNCS);
    const reports = [...this.reports];
    if (syncs.length === 0 && reports.length === 0) return;
    for (const [key] of syncs) this.pending.delete(key);
    for (const [key] of reports) this.reports.delete(key);
    try {
      await this.options.forward({ relay: this.options.name, held: this.options.held(), syncs: syncs.map(([, s]) => s), reports: reports.map(([, r]) => r) });
    } catch {
      for (const [key, sync] of syncs) if (!this.pending.has(key)) this.pending.set(key, sync);
      for (const [key, report] of reports) if (!this.reports.has(key)) this.reports.set(key, report);
      this.flushNotBefore = this.options.now() + this.options.failed();
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      return this.scheduleFlush(0);
    }
    this.flushNotBefore = 0;
    if (this.pending.size > 0 || this.reports.size > 0) this.scheduleFlush(RELAY_FLUSH_MS);
  }
}
