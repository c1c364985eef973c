/**
 * What POPs report of origins they ejected (passive health) and restored,
 * taken into the control plane's rows so that every POP then learns. A POP's
 * word is bounded: it cannot mark an origin down for longer than it could
 * have ejected it, nor lift another isolate's ejection.
 */
import type { OutpostConfig } from "../common/config";
import type { Report } from "../common/wire";
import type { ControlData } from "./control-data";
import { sameIsolate } from "./health-view";
import type { LiveFigures } from "./live";
import type { ControlStorage } from "./storage";
import type { PassiveReport } from "./views";

export interface PassiveContext {
  storage: ControlStorage;
  live: LiveFigures;
  config: OutpostConfig;
  log: (line: string) => void;
}

export async function applyPassiveEvents(ctx: PassiveContext, data: ControlData, { pop, isolate, events }: Pick<Report, "pop" | "isolate" | "events">, now: number): Promise<void> {
  const known = new Set(ctx.config.origins.map((o) => o.id));
  for (const event of events) {
    ctx.live.onEvent({ at: event.at, kind: event.kind, origin: event.originId, pop, detail: event.reason });
    if (!known.has(event.originId)) continue;
    if (event.kind === "ejected" && event.until !== undefined) {
      // A POP's word holds no longer than the longest ejection it could have made, from now:
      // a leaked POP token must not mark an origin down everywhere for good.
      const until = Math.min(event.until, now + ctx.config.outlierDetection.maxEjectionMs);
      if (until <= now) continue;
      const report: PassiveReport = { pop, ...(isolate ? { isolate } : {}), at: Math.min(event.at, now), until, reason: event.reason ?? "failures" };
      data.passive.set(event.originId, report);
      await ctx.storage.putRow("passive", event.originId, report);
      ctx.log(JSON.stringify({ event: "origin-ejected", origin: event.originId, pop, until: new Date(until).toISOString(), reason: event.reason }));
    } else if (event.kind === "restored" && sameIsolate(data.passive.get(event.originId), pop, isolate)) {
      data.passive.delete(event.originId);
      await ctx.storage.deleteRow("passive", event.originId);
      ctx.log(JSON.stringify({ event: "origin-restored", origin: event.originId, pop }));
    }
  }
}
