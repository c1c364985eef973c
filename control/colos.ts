/**
 * A colo runs many isolates of the Worker under one POP name (one per
 * server, several per colo), each with its own counters and purge position.
 * The control plane keeps a row per isolate and shows each POP as the sum of
 * its isolates: counters add up (an isolate that is gone leaves its figures
 * in the colo's retired total, so a POP's counter never goes backwards),
 * and a purge has reached a POP when it has reached every isolate of it.
 * Pure, so that Node tests drive it; the control plane persists what it
 * returns.
 */
import { MAX_SYNC_WAIT_MS, type PopOriginView } from "../common/wire";
import type { SeriesReport } from "../common/metrics/series";
import type { IsolateRows } from "./isolate-rows";
import type { PopSync, PurgeStatus } from "./views";

/** The row key of one isolate: its POP name, and its own id when it sends one. */
export function memberKey(pop: string, isolate: string | undefined): string {
  return isolate ? `${pop}~${isolate}` : pop;
}

/** What a colo's isolates that are gone had counted, kept so that its totals never shrink. */
export interface RetiredFigures {
  counters: Record<string, number>;
  series?: SeriesReport;
  origins: Record<string, PopOriginView>;
}

/** A POP as readers see it: its isolates summed. */
export type ColoView = PopSync & { isolates: number };

function addCounters(into: Record<string, number>, from: Record<string, number>): void {
  for (const [name, value] of Object.entries(from)) into[name] = (into[name] ?? 0) + value;
}

function addSeries(into: SeriesReport, from: SeriesReport | undefined): void {
  for (const [key, values] of Object.entries(from ?? {})) {
    const sum = into[key] ?? [];
    into[key] = values.map((v, i) => v + (sum[i] ?? 0));
  }
}

/** Origins as the isolates see them: counts add up, an origin is ejected where any live isolate has it ejected. */
function addOrigins(into: Record<string, PopOriginView>, from: Record<string, PopOriginView>, live: boolean): void {
  for (const [id, view] of Object.entries(from)) {
    const sum = into[id] ?? { requests: 0, errors: 0, ejected: false, ejections: 0 };
    into[id] = {
      requests: sum.requests + view.requests,
      errors: sum.errors + view.errors,
      ejected: (sum.ejected ?? false) || (live && (view.ejected ?? false)),
      ejections: (sum.ejections ?? 0) + (view.ejections ?? 0),
    };
  }
}

/** A gone isolate's figures added to its colo's retired total. */
export function retire(base: RetiredFigures | undefined, member: PopSync): RetiredFigures {
  const out: RetiredFigures = { counters: { ...base?.counters }, series: { ...base?.series }, origins: {} };
  addCounters(out.counters, member.counters);
  addSeries(out.series ?? {}, member.series);
  addOrigins(out.origins, base?.origins ?? {}, false);
  addOrigins(out.origins, member.origins, false);
  return out;
}

/**
 * An isolate's counters as of a report: never below what it said before
 * (a reordered or replayed report cannot take a colo's total backwards).
 */
export function monotonicCounters(previous: Record<string, number> | undefined, reported: Record<string, number>): Record<string, number> {
  if (!previous) return reported;
  const out = { ...reported };
  for (const [name, value] of Object.entries(previous)) if ((out[name] ?? 0) < value) out[name] = value;
  return out;
}

/** One POP from its isolates (at least one) and what its gone isolates had counted. */
export function coloView(members: PopSync[], retired: RetiredFigures | undefined): ColoView {
  const counters: Record<string, number> = { ...retired?.counters };
  const series: SeriesReport = { ...retired?.series };
  const origins: Record<string, PopOriginView> = {};
  addOrigins(origins, retired?.origins ?? {}, false);
  for (const m of members) {
    addCounters(counters, m.counters);
    addSeries(series, m.series);
    addOrigins(origins, m.origins, true);
  }
  const newest = members.reduce((a, b) => (b.lastSyncAt > a.lastSyncAt ? b : a));
  const lags = members.map((m) => m.lastPurgeLagMs).filter((lag): lag is number => lag !== null);
  return {
    name: newest.name,
    isolates: members.length,
    lastSyncAt: newest.lastSyncAt,
    mode: members.some((m) => m.mode === "long-poll") ? "long-poll" : newest.mode,
    syncs: members.reduce((n, m) => n + (m.syncs ?? 0), 0),
    reports: members.reduce((n, m) => n + (m.reports ?? 0), 0),
    // Where the POP as a whole stands: its furthest-behind isolate.
    versionApplied: Math.min(...members.map((m) => m.versionApplied)),
    purgeSeqApplied: Math.min(...members.map((m) => m.purgeSeqApplied)),
    purgeSeqDelivered: Math.min(...members.map(deliveredSeq)),
    lastPurgeLagMs: lags.length > 0 ? Math.max(...lags) : null,
    counters,
    series,
    origins,
    location: newest.location ?? members.find((m) => m.location)?.location,
  };
}

/** Every POP, by name, from the isolates' rows (indexed by POP already). */
export function coloViews(rows: IsolateRows, retired: Map<string, RetiredFigures>): ColoView[] {
  return rows.colos().map((name) => coloView(rows.membersOf(name), retired.get(name)));
}

/** The highest purge an isolate has been sent (it applies rules on receipt) or said it applied. */
function deliveredSeq(m: PopSync): number {
  return Math.max(m.purgeSeqApplied, m.purgeSeqDelivered ?? 0);
}

/** An isolate whose last sync is this recent may hold a sync now: it hears of a purge at once. */
const HOLDING_WINDOW_MS = MAX_SYNC_WAIT_MS + 5000;

/**
 * Whether an isolate was idle when a purge was accepted at `at`: no sync since, and none held then. It
 * syncs, and applies what came meanwhile, before it answers its next request. One holding a relay's
 * stream is not idle: it serves from memory until the news comes down the stream, and the relay says
 * it was sent only in its next batch.
 */
export function idleSince(m: PopSync, at: number): boolean {
  return m.lastSyncAt < at && (m.heldUntil ?? 0) < at;
}

/**
 * Whether every isolate of a POP but the sender that may be holding a sync has
 * been sent rule `seq` (the others sync, and apply it, before their next answer).
 */
export function coloReached(members: PopSync[], sender: string, seq: number, now: number): boolean {
  return members.every((m) => memberKey(m.name, m.isolate) === sender || m.lastSyncAt < now - HOLDING_WINDOW_MS || deliveredSeq(m) >= seq);
}

/** Where a purge accepted at `at` with sequence `seq` stands at each POP, from its isolates' positions. */
export function purgeReach(rows: IsolateRows, seq: number, at: number): PurgeStatus["pops"] {
  return rows.colos().map((name) => {
    const members = rows.membersOf(name);
    const pending = members.filter((m) => deliveredSeq(m) < seq);
    return {
      name,
      applied: pending.length === 0,
      idle: pending.length > 0 && pending.every((m) => idleSince(m, at)),
      lastSyncAt: Math.max(...members.map((m) => m.lastSyncAt)),
      isolates: members.length,
      isolatesApplied: members.length - pending.length,
    };
  });
}
