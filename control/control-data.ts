/**
 * What the control plane holds in memory: its rows, loaded once from
 * storage and written back one at a time. Purge rules stay in storage.
 */
import type { CloudflarePurgeResult } from "./cloudflare-purge";
import type { ActiveHealth, HealthTransition } from "./health-monitor";
import type { ControlStorage } from "./storage";
import type { OriginHealthView, OriginOverride } from "../common/snapshot";
import type { PassiveReport, PopSync } from "./views";
import { IsolateRows } from "./isolate-rows";
import type { RetiredFigures } from "./colos";

export interface ControlData {
  version: number;
  purgeSeq: number;
  /** When the rule numbered purgeSeq was accepted (0: none is kept). */
  lastPurgeAt: number;
  /** Names this purge sequence: a control plane that lost its state starts a new epoch, and POPs resync from zero. */
  epoch: string;
  origins: Map<string, OriginOverride>;
  active: Map<string, ActiveHealth>;
  passive: Map<string, PassiveReport>;
  /** The health view last published; a change bumps the version. */
  published: Record<string, OriginHealthView>;
  transitions: Map<string, HealthTransition>;
  /** A row per isolate (a colo runs many under one POP name), by memberKey. */
  pops: IsolateRows;
  /** What each POP's gone isolates had counted, by POP name. */
  retired: Map<string, RetiredFigures>;
  /** When each isolate's row was last written (syncs come often; the row is written when it matters). */
  popWrittenAt: Map<string, number>;
  nextProbeAt: Record<string, number>;
  cloudflare: Map<string, CloudflarePurgeResult | "pending">;
}

/** Reads every row once; a first start writes the epoch that names this control plane's purge sequence. */
export async function loadControlData(storage: ControlStorage): Promise<ControlData> {
  const values = await storage.rows<unknown>("value");
  let epoch = values.get("epoch") as string | undefined;
  if (!epoch) {
    epoch = crypto.randomUUID();
    await storage.putRow("value", "epoch", epoch);
  }
  const pops = await storage.rows<PopSync>("pop");
  const purgeSeq = (values.get("purgeSeq") as number | undefined) ?? 0;
  const newest = purgeSeq > 0 ? (await storage.purgesAfter(purgeSeq - 1, 1))[0] : undefined;
  return {
    version: (values.get("version") as number | undefined) ?? 1,
    purgeSeq,
    lastPurgeAt: newest?.at ?? 0,
    epoch,
    origins: await storage.rows<OriginOverride>("override"),
    active: await storage.rows<ActiveHealth>("active"),
    passive: await storage.rows<PassiveReport>("passive"),
    published: (values.get("published") as Record<string, OriginHealthView> | undefined) ?? {},
    transitions: await storage.rows<HealthTransition>("transition"),
    pops: new IsolateRows(pops),
    retired: await storage.rows<RetiredFigures>("retired"),
    popWrittenAt: new Map([...pops.keys()].map((k) => [k, 0])),
    nextProbeAt: {},
    cloudflare: await storage.rows<CloudflarePurgeResult | "pending">("cloudflare"),
  };
}
