/**
 * Origin health as the control plane shows it: the view POPs apply (down if
 * the probes say so, or while a POP's ejection runs), and the report people
 * read (each origin's probes, ejection and every POP's view of it). Pure.
 */
import type { OutpostConfig } from "../common/config";
import type { OriginHealthView } from "../common/snapshot";
import type { ColoView } from "./colos";
import type { ControlData } from "./control-data";
import type { HealthReport, PassiveReport } from "./views";

/** Only the isolate that ejected an origin may restore it (another of its colo may never have ejected it). */
export function sameIsolate(report: PassiveReport | undefined, pop: string, isolate: string | undefined): boolean {
  return report !== undefined && report.pop === pop && report.isolate === isolate;
}

/** Do two published views agree on every origin's health? (A change bumps the version.) */
export function sameView(a: Record<string, OriginHealthView>, b: Record<string, OriginHealthView>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k]?.healthy !== b[k]?.healthy) return false;
  return true;
}

/** Health as POPs should apply it: down if probes say so, or a POP's ejection still runs. */
export function publishedHealth(config: OutpostConfig, data: ControlData, now: number): Record<string, OriginHealthView> {
  const out: Record<string, OriginHealthView> = {};
  for (const origin of config.origins) {
    const active = data.active.get(origin.id);
    const passive = data.passive.get(origin.id);
    if (active && !active.healthy) out[origin.id] = { healthy: false, since: active.since, reason: `probes: ${active.lastResult}` };
    else if (passive && passive.until > now) out[origin.id] = { healthy: false, since: passive.at, reason: `ejected by ${passive.pop}: ${passive.reason}` };
    else out[origin.id] = { healthy: true, since: active?.since ?? 0 };
  }
  return out;
}

/** What /v1/health answers: the published view with what it is made of, and the recent transitions. */
export function healthReport(config: OutpostConfig, data: ControlData, pops: ColoView[], now: number): HealthReport {
  const origins: HealthReport["origins"] = {};
  for (const origin of config.origins) {
    const view = data.published[origin.id];
    const passive = data.passive.get(origin.id);
    origins[origin.id] = {
      healthy: view?.healthy !== false,
      reason: view?.reason ?? null,
      active: data.active.get(origin.id) ?? null,
      passive: passive && passive.until > now ? passive : null,
      pops: Object.fromEntries(pops.flatMap((p) => (p.origins[origin.id] ? [[p.name, p.origins[origin.id]]] : []))),
    };
  }
  return { origins, transitions: [...data.transitions.values()].sort((a, b) => a.at - b.at).slice(-50) };
}
