/**
 * Keeping each POP's sum of isolates: the live timeline fed with the sum
 * (which never goes backwards), and silent isolates retired, their figures
 * moved into their POP's retired total (a row per POP) before their own row
 * goes.
 */
import { INVALIDATION_WAIT_MS } from "../common/wire";
import { coloReached, coloView, retire } from "./colos";
import type { ControlData } from "./control-data";
import type { LiveFigures } from "./live";
import type { ControlStorage } from "./storage";

/** The live timeline sees a POP's sum over its isolates (and those gone). */
export function feedLive(data: ControlData, live: LiveFigures, pop: string, now: number): void {
  const members = data.pops.membersOf(pop);
  if (members.length === 0) return;
  const view = coloView(members, data.retired.get(pop));
  live.onFigures(pop, now, view.counters, view.series);
}

/** Retires the isolates that are due (silent for ISOLATE_GONE_MS, or the oldest past the bound). */
export async function retireSilentIsolates(data: ControlData, storage: ControlStorage, now: number): Promise<void> {
  for (const key of data.pops.due(now)) {
    const row = data.pops.get(key);
    if (!row) continue;
    const retired = retire(data.retired.get(row.name), row);
    data.retired.set(row.name, retired);
    await storage.putRow("retired", row.name, retired);
    data.pops.delete(key);
    data.popWrittenAt.delete(key);
    await storage.deleteRow("pop", key);
  }
}

/**
 * Waits (real time, at most INVALIDATION_WAIT_MS) until every isolate of `pop` but the sender that
 * may hold a sync has been sent rule `seq`; whether they all were.
 */
export async function coloTakes(data: ControlData, pop: string, sender: string, seq: number, now: () => number): Promise<boolean> {
  const deadline = Date.now() + INVALIDATION_WAIT_MS;
  const reached = () => coloReached(data.pops.membersOf(pop), sender, seq, now());
  while (!reached() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
  return reached();
}
