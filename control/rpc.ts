/** What the control API asks of the control plane (the Durable Object, or ControlState in Node tests). */
import type { HealthReport, PurgeStatus, SyncReport } from "./state";
import type { Invalidation, Report } from "../common/wire";
import type { ColoView } from "./colos";
import type { RelayAnswer, RelayBatch, RelaySyncRequest } from "./relay-protocol";
import type { MetricsInput } from "./metrics";
import type { DashboardView } from "./dashboard-view";
import type { OriginOverride, PurgeRule, PurgeTarget, Snapshot } from "../common/snapshot";

export interface ControlPlaneRpc {
  snapshot(pop: string | undefined, have: number): Promise<Snapshot>;
  /** Each POP, its isolates summed. */
  pops(): Promise<ColoView[]>;
  metrics(): Promise<MetricsInput>;
  dashboard(): Promise<DashboardView>;
  overrides(): Promise<Record<string, OriginOverride>>;
  health(): Promise<HealthReport>;
  patchOrigin(id: string, patch: OriginOverride): Promise<{ version: number; override: OriginOverride }>;
  report(report: Report): Promise<{ version: number }>;
  /** `waitMs`: hold the answer until there is news, at most that long (a long poll). */
  sync(report: SyncReport, waitMs?: number): Promise<Snapshot>;
  /** A regional relay's own sync (control/relay.ts), held like an isolate's. */
  relaySync(request: RelaySyncRequest, waitMs?: number): Promise<RelayAnswer>;
  /** What a relay's isolates told it, in one batch. */
  relayed(batch: RelayBatch): Promise<void>;
  purge(targets: PurgeTarget[], soft: boolean, id: string): Promise<PurgeRule>;
  purgeStatus(id: string): Promise<PurgeStatus | undefined>;
  /** Every purge rule in force, folded (common/catch-up.ts), for an isolate too far behind to page. */
  catchUp(): Promise<Uint8Array<ArrayBuffer>>;
  /** The configuration held here (text absent: POPs run the OUTPOST_CONFIG variable). */
  configuration(): Promise<{ version: number; text: string | undefined }>;
  /** Holds a configuration (validated by the caller); every isolate takes it at its next sync. */
  putConfiguration(config: Record<string, unknown>): Promise<{ version: number }>;
  /** An isolate's invalidation for the others: a purge rule, answered once its colo has it (or after INVALIDATION_WAIT_MS). */
  invalidate(invalidation: Invalidation): Promise<{ seq: number; reachedColo: boolean }>;
}
