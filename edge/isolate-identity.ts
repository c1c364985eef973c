/**
 * This isolate as the control plane knows it. A colo runs many isolates
 * under one POP name; each reports its own cumulative figures under its own
 * id, and the control plane sums them per POP. An isolate the control plane
 * has not heard from for ISOLATE_GONE_MS is retired (its figures stay in the
 * POP's total), so an isolate silent for ISOLATE_RENEW_MS (less) takes a new
 * id and counts from there: a retired row never comes back to be counted
 * twice.
 */
import { ISOLATE_RENEW_MS, type PopMetrics, type PopOriginView } from "../common/wire";

/** 64 random bits in hex: two isolates of one POP never share an id. */
export function newIsolateId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

function minus(a: number, b: number | undefined): number {
  return Math.max(0, a - (b ?? 0));
}

/** Figures since `baseline` was taken: counts subtract; states (ejected, where it is) are as they are now. */
export function figuresSince(current: PopMetrics, baseline: PopMetrics): PopMetrics {
  const counters = Object.fromEntries(Object.entries(current.counters ?? {}).map(([name, v]) => [name, minus(v, baseline.counters?.[name])]));
  const series = Object.fromEntries(Object.entries(current.series ?? {}).map(([key, values]) => [key, values.map((v, i) => minus(v, baseline.series?.[key]?.[i]))]));
  const origins: Record<string, PopOriginView> = {};
  for (const [id, view] of Object.entries(current.origins ?? {})) {
    const base = baseline.origins?.[id];
    origins[id] = { ...view, requests: minus(view.requests, base?.requests), errors: minus(view.errors, base?.errors), ejections: minus(view.ejections ?? 0, base?.ejections) };
  }
  return { ...current, counters, series, origins };
}

export class IsolateIdentity {
  id: string;
  private baseline: PopMetrics | undefined;

  constructor(
    /** The isolate's figures since it started. */
    private readonly ownFigures: () => PopMetrics,
    private readonly newId: () => string = newIsolateId,
  ) {
    this.id = newId();
  }

  /** Before a sync: silent (no sync answered) for longer than ISOLATE_RENEW_MS, this isolate starts a new id. */
  renewIfSilent(silentMs: number): void {
    if (silentMs <= ISOLATE_RENEW_MS) return;
    this.id = this.newId();
    this.baseline = this.ownFigures();
  }

  /** What this id has counted. */
  figures(): PopMetrics {
    const own = this.ownFigures();
    return this.baseline ? figuresSince(own, this.baseline) : own;
  }
}
