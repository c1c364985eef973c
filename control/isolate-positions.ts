/**
 * Where each isolate is: the row the control plane keeps of an isolate's
 * position (version and purges applied, the newest rule sent to it) and the
 * purge lag it shows, written from a sync answered here or one a regional
 * relay answered and forwarded (control/relay.ts).
 */
import type { OutpostConfig } from "../common/config";
import type { SyncReport } from "../common/wire";
import type { ControlData } from "./control-data";
import { feedLive } from "./colo-upkeep";
import { memberKey } from "./colos";
import type { LiveFigures } from "./live";
import { keptFigures } from "./pop-figures";
import type { ControlStorage } from "./storage";
import type { PopSync } from "./views";

/** An isolate's row is written when it is new, else at most this often (never because of a purge). */
const POP_ROW_INTERVAL_MS = 60_000;

export interface PositionContext {
  storage: ControlStorage;
  live: LiveFigures;
  config: OutpostConfig;
}

/**
 * Records an isolate's sync: it has applied rules up to `purgeSeq` (already
 * in this epoch's numbering) and was sent rules up to `delivered` at `now`.
 */
export async function recordPosition(
  ctx: PositionContext,
  data: ControlData,
  report: SyncReport,
  purgeSeq: number,
  delivered: number,
  now: number,
  heldUntil?: number,
): Promise<void> {
  const key = memberKey(report.pop, report.isolate);
  const previous = data.pops.get(key);
  // The lag of the newest rule that reached the isolate: sent to it (a relay's stream applies each
  // answer as it arrives, and the isolate reports what it applied only when it next arms a sync).
  const reached = Math.max(purgeSeq, delivered);
  let lastPurgeLagMs = previous?.lastPurgeLagMs ?? null;
  if (reached > Math.max(previous?.purgeSeqApplied ?? 0, previous?.purgeSeqDelivered ?? 0) && reached <= data.purgeSeq) {
    const newest = (await ctx.storage.purgesAfter(reached - 1, 1))[0];
    if (newest?.seq === reached) lastPurgeLagMs = now - newest.at;
  }
  const pop: PopSync = {
    ...(previous ? { counters: previous.counters, series: previous.series, origins: previous.origins, location: previous.location } : keptFigures(ctx.config, report, undefined)),
    name: report.pop,
    ...(report.isolate ? { isolate: report.isolate } : {}),
    since: previous ? (previous.since ?? 0) : now,
    lastSyncAt: now,
    ...(heldUntil !== undefined ? { heldUntil } : {}),
    mode: report.mode ?? previous?.mode,
    syncs: (previous?.syncs ?? 0) + 1,
    reports: previous?.reports,
    versionApplied: report.have,
    purgeSeqApplied: purgeSeq,
    lastPurgeLagMs,
    purgeSeqDelivered: reached,
  };
  ctx.live.onDelivered(key, report.pop, reached, now);
  data.pops.set(key, pop);
  if (!previous) feedLive(data, ctx.live, report.pop, now);
  // Syncs come often and a purge moves every isolate's position: the row is written when the isolate
  // is new, else at most every POP_ROW_INTERVAL_MS, so a purge costs no row write per isolate.
  // (A restart reads positions up to that old; each isolate's next sync brings its own.)
  if (!previous || now - (data.popWrittenAt.get(key) ?? 0) >= POP_ROW_INTERVAL_MS) {
    data.popWrittenAt.set(key, now);
    await ctx.storage.putRow("pop", key, pop);
  }
}
