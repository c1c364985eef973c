/**
 * The control plane's Durable Object: one instance ("global") holds the
 * truth. Thin on purpose: ControlState does the work; this class gives it
 * durable storage, runs the active probes on its alarm, and exposes RPC.
 */
import { DurableObject } from "cloudflare:workers";
import { parseConfig, type OutpostConfig } from "../common/config";
import { parseSettings } from "../common/settings";
import type { Env } from "../common/env";
import type { Invalidation, Report } from "../common/wire";
import { ControlState, type SyncReport } from "./state";
import { SqlControlStorage } from "./storage";
import type { ControlPlaneRpc } from "./rpc";
import type { RelayBatch, RelaySyncRequest } from "./relay-protocol";
import type { OriginOverride, PurgeTarget } from "../common/snapshot";

export class ControlPlane extends DurableObject<Env> implements ControlPlaneRpc {
  private readonly state: ControlState;
  private config: OutpostConfig | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new ControlState(new SqlControlStorage(ctx.storage.sql), () => (this.config ??= parseConfig(env.OUTPOST_CONFIG, "OUTPOST_CONFIG")), undefined, undefined, {
      cloudflare: env.CF_ZONE_ID && env.CF_API_TOKEN ? { zoneId: env.CF_ZONE_ID, apiToken: env.CF_API_TOKEN, apiBase: env.CF_API_BASE } : undefined,
      defer: (work) => ctx.waitUntil(work),
      catchUpAfter: parseSettings(env).PURGE_CATCH_UP_AFTER,
    });
  }

  /** Probes run on the alarm, started by the first call and rescheduled by each run. */
  private async ensureAlarm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + 100);
  }

  override async alarm(): Promise<void> {
    let next = Date.now() + 5000;
    try {
      next = await this.state.runProbes();
    } finally {
      await this.ctx.storage.setAlarm(Math.max(next, Date.now() + 250));
    }
  }

  async snapshot(pop: string | undefined, have: number) {
    await this.ensureAlarm();
    return this.state.snapshot(pop, have);
  }
  async pops() {
    return this.state.pops();
  }
  async metrics() {
    await this.ensureAlarm();
    return this.state.metrics();
  }
  async dashboard() {
    await this.ensureAlarm();
    return this.state.dashboard();
  }
  async overrides() {
    return this.state.overrides();
  }
  async health() {
    await this.ensureAlarm();
    return this.state.health();
  }
  async patchOrigin(id: string, patch: OriginOverride) {
    return this.state.patchOrigin(id, patch);
  }
  async sync(report: SyncReport, waitMs?: number) {
    await this.ensureAlarm();
    return this.state.sync(report, waitMs);
  }
  async purge(targets: PurgeTarget[], soft: boolean, id: string) {
    return this.state.purge(targets, soft, id);
  }
  async configuration() {
    return this.state.configuration();
  }
  async putConfiguration(config: Record<string, unknown>) {
    return this.state.putConfiguration(config);
  }
  async invalidate(invalidation: Invalidation) {
    return this.state.invalidate(invalidation);
  }
  async relaySync(request: RelaySyncRequest, waitMs?: number) {
    await this.ensureAlarm();
    return this.state.relaySync(request, waitMs);
  }
  async relayed(batch: RelayBatch) {
    return this.state.relayed(batch);
  }
  async catchUp() {
    return this.state.catchUp();
  }
  async purgeStatus(id: string) {
    return this.state.purgeStatus(id);
  }
  async report(report: Report) {
    await this.ensureAlarm();
    return this.state.report(report);
  }
}
