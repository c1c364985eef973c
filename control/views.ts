/**
 * What the control plane's state looks like to its readers (the API, the
 * metrics exposition, the dashboard): types alone, so that the state and its
 * readers depend on them and not on each other.
 */
import type { CloudflarePurgeResult } from "./cloudflare-purge";
import type { ActiveHealth, HealthTransition } from "./health-monitor";
import type { PopMetrics, PopOriginView, SyncMode } from "../common/wire";
import type { SeriesReport } from "../common/metrics/series";
import type { PurgeTarget } from "../common/snapshot";

export interface PopSync {
  name: string;
  lastSyncAt: number;
  /** How the POP keeps up: a held sync answered on news ("long-poll"), or interval polling ("poll"). */
  mode?: SyncMode;
  /** Syncs answered (kept with the POP's row, so up to 10 s behind after a restart): the load each POP makes. */
  syncs?: number;
  /** Figure reports between syncs (METRICS_REPORT_MS), counted since the control plane started: the rest of that load. */
  reports?: number;
  versionApplied: number;
  /** The highest purge sequence number the POP has applied. */
  purgeSeqApplied: number;
  /**
   * The highest sequence sent to it in a sync answer. A POP applies rules on
   * receipt, before it answers anything else, so what was delivered is applied.
   */
  purgeSeqDelivered?: number;
  /** Accepted → applied at this POP, for its latest purge (as seen at the next sync). */
  lastPurgeLagMs: number | null;
  counters: Record<string, number>;
  /** Labelled series (common/metrics/series.ts), only those whose labels are in their declared domains. */
  series?: SeriesReport;
  origins: Record<string, PopOriginView>;
  location?: PopMetrics["location"];
}

export interface PurgeStatus {
  id: string;
  seq: number;
  at: number;
  soft: boolean;
  targets: PurgeTarget[];
  /** idle: has not synced since the purge; it syncs, and applies it, before answering its next request. */
  pops: { name: string; applied: boolean; idle: boolean; lastSyncAt: number }[];
  cloudflare: CloudflarePurgeResult | "not configured" | "pending";
}

/** A POP's passive verdict on an origin, shared with every POP until it runs out. */
export interface PassiveReport {
  pop: string;
  at: number;
  until: number;
  reason: string;
}

export interface HealthReport {
  origins: Record<
    string,
    {
      healthy: boolean;
      reason: string | null;
      active: ActiveHealth | null;
      passive: PassiveReport | null;
      /** As each POP sees it, from its last sync. */
      pops: Record<string, PopOriginView>;
    }
  >;
  transitions: HealthTransition[];
}
