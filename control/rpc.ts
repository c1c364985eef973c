/** What the control API asks of the control plane (the Durable Object, or ControlState in Node tests). */
import type { HealthReport, PopSync, PurgeStatus, ReportEvent, SyncReport } from "./state";
import type { PopMetrics } from "../common/wire";
import type { MetricsInput } from "./metrics";
import type { DashboardView } from "./dashboard-view";
import type { OriginOverride, PurgeRule, PurgeTarget, Snapshot } from "../common/snapshot";

export interface ControlPlaneRpc {
  snapshot(pop: string | undefined, have: number): Promise<Snapshot>;
  pops(): Promise<PopSync[]>;
  metrics(): Promise<MetricsInput>;
  dashboard(): Promise<DashboardView>;
  overrides(): Promise<Record<string, OriginOverride>>;
  health(): Promise<HealthReport>;
  patchOrigin(id: string, patch: OriginOverride): Promise<{ version: number; override: OriginOverride }>;
  report(pop: string, events: ReportEvent[], metrics?: PopMetrics): Promise<{ version: number }>;
  /** `waitMs`: hold the answer until there is news, at most that long (a long poll). */
  sync(report: SyncReport, waitMs?: number): Promise<Snapshot>;
  purge(targets: PurgeTarget[], soft: boolean, id: string): Promise<PurgeRule>;
  purgeStatus(id: string): Promise<PurgeStatus | undefined>;
}
