/**
 * An isolate's figures as the control plane keeps them: only declared
 * counters (never below what the isolate said before), and series whose
 * labels are in their domains, so a report cannot grow the exposition; what
 * a report leaves out stays as it was.
 */
import type { OutpostConfig } from "../common/config";
import { POP_COUNTERS } from "../common/metrics/counters";
import { validSeries } from "../common/metrics/series";
import type { PopMetrics } from "../common/wire";
import { monotonicCounters } from "./colos";
import type { PopSync } from "./views";

export function keptFigures(config: OutpostConfig, metrics: PopMetrics, previous: PopSync | undefined): Pick<PopSync, "counters" | "series" | "origins" | "location"> {
  const isOrigin = (id: string) => config.origins.some((o) => o.id === id) || /^shield:[a-z0-9:_-]{1,80}$/.test(id);
  const counters = metrics.counters
    ? monotonicCounters(previous?.counters, Object.fromEntries(Object.entries(metrics.counters).filter(([name]) => Object.hasOwn(POP_COUNTERS, name))))
    : (previous?.counters ?? {});
  const series = metrics.series ? Object.fromEntries(Object.entries(metrics.series).filter(([key, values]) => validSeries(key, values, isOrigin))) : previous?.series;
  const origins = metrics.origins ? Object.fromEntries(Object.entries(metrics.origins).filter(([id]) => isOrigin(id))) : (previous?.origins ?? {});
  return { counters, series, origins, location: metrics.location ?? previous?.location };
}
