/**
 * One round of active probes: every origin that is due is probed, its
 * health rewritten (one row per origin), and a change of state kept as a
 * transition row (the newest MAX_TRANSITIONS), shown live and logged.
 */
import { monitorFor, type OutpostConfig } from "../common/config";
import type { ControlData } from "./control-data";
import { applyProbe, initialHealth, probeOrigin } from "./health-monitor";
import type { LiveFigures } from "./live";
import type { ControlStorage } from "./storage";

const MAX_TRANSITIONS = 200;

export interface ProbeRound {
  data: ControlData;
  storage: ControlStorage;
  config: OutpostConfig;
  now: () => number;
  live: LiveFigures;
  log: (line: string) => void;
}

export async function probeDueOrigins({ data, storage, config, now, live, log }: ProbeRound, fetcher: typeof fetch): Promise<void> {
  const startedAt = now();
  const due = config.origins.filter((o) => (data.nextProbeAt[o.id] ?? 0) <= startedAt);
  await Promise.all(
    due.map(async (origin) => {
      const monitor = monitorFor(config, origin);
      const result = await probeOrigin(origin.url, monitor, fetcher);
      const at = now();
      const { health, transition } = applyProbe(origin.id, data.active.get(origin.id) ?? initialHealth(at), result, monitor, at);
      data.active.set(origin.id, health);
      // One row per origin: a probe rewrites that origin's health and nothing else.
      await storage.putRow("active", origin.id, health);
      data.nextProbeAt[origin.id] = startedAt + monitor.intervalSeconds * 1000;
      if (!transition) return;
      const key = `${String(transition.at).padStart(15, "0")}-${transition.originId}`;
      data.transitions.set(key, transition);
      await storage.putRow("transition", key, transition);
      for (const old of [...data.transitions.keys()].sort().slice(0, Math.max(0, data.transitions.size - MAX_TRANSITIONS))) {
        data.transitions.delete(old);
        await storage.deleteRow("transition", old);
      }
      live.onEvent({ at: transition.at, kind: transition.to === "down" ? "origin-down" : "origin-up", origin: transition.originId, detail: transition.reason });
      log(JSON.stringify({ event: "origin-health", origin: transition.originId, from: transition.from, to: transition.to, reason: transition.reason }));
    }),
  );
}
