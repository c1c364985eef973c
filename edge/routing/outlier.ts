/**
 * Passive health, per POP isolate (Envoy's outlier detection): consecutive
 * failures eject an origin for a time that doubles with each repeat; when it
 * runs out, one trial request may go (half-open); its success restores the
 * origin, its failure ejects it again for longer. Pure: time is a parameter.
 */
import type { OutlierDetectionConfig } from "../../common/config";

export type OutlierEvent = { kind: "ejected"; originId: string; at: number; until: number; ejections: number; reason: string } | { kind: "restored"; originId: string; at: number };

interface OriginOutlierState {
  consecutiveFailures: number;
  /** Ejections so far without a full recovery; drives the doubling. */
  ejections: number;
  totalEjections: number;
  ejectedUntil: number;
  /** A half-open trial is in flight. */
  trialInFlight: boolean;
  lastFailure?: string;
}

export interface OutlierView {
  originId: string;
  ejected: boolean;
  ejectedUntil: number | null;
  ejections: number;
  totalEjections: number;
  consecutiveFailures: number;
  lastFailure: string | null;
}

export class OutlierDetector {
  private readonly states = new Map<string, OriginOutlierState>();

  constructor(
    private readonly config: OutlierDetectionConfig,
    private readonly onEvent: (event: OutlierEvent) => void = () => undefined,
  ) {}

  private state(originId: string): OriginOutlierState {
    let s = this.states.get(originId);
    if (!s) {
      s = { consecutiveFailures: 0, ejections: 0, totalEjections: 0, ejectedUntil: 0, trialInFlight: false };
      this.states.set(originId, s);
    }
    return s;
  }

  /** May a request go to this origin now? A half-open origin admits one trial at a time. */
  admits(originId: string, now: number): boolean {
    const s = this.states.get(originId);
    if (!s || s.ejections === 0) return true;
    if (now < s.ejectedUntil) return false;
    return !s.trialInFlight;
  }

  /** Ejected now, or waiting for its trial to come back. */
  isEjected(originId: string, now: number): boolean {
    const s = this.states.get(originId);
    return !!s && s.ejections > 0 && (now < s.ejectedUntil || s.trialInFlight);
  }

  /** Ejections since the isolate started (Envoy's ejections_enforced_total). */
  totalEjections(originId: string): number {
    return this.states.get(originId)?.totalEjections ?? 0;
  }

  /** Call when a request is sent; marks the half-open trial. */
  onSend(originId: string, now: number): void {
    const s = this.states.get(originId);
    if (s && s.ejections > 0 && now >= s.ejectedUntil) s.trialInFlight = true;
  }

  /** A request that ended without a verdict on the origin: a half-open trial may go again. */
  onAbandoned(originId: string): void {
    const s = this.states.get(originId);
    if (s) s.trialInFlight = false;
  }

  onSuccess(originId: string, now: number): void {
    const s = this.state(originId);
    s.consecutiveFailures = 0;
    s.trialInFlight = false;
    if (s.ejections > 0) {
      s.ejections = 0;
      s.ejectedUntil = 0;
      this.onEvent({ kind: "restored", originId, at: now });
    }
  }

  onFailure(originId: string, reason: string, now: number): void {
    const s = this.state(originId);
    s.consecutiveFailures++;
    s.lastFailure = reason;
    const wasTrial = s.trialInFlight;
    s.trialInFlight = false;
    if (wasTrial || (s.ejections === 0 && s.consecutiveFailures >= this.config.consecutiveFailures)) {
      s.ejections++;
      s.totalEjections++;
      const duration = Math.min(this.config.maxEjectionMs, this.config.baseEjectionMs * 2 ** (s.ejections - 1));
      s.ejectedUntil = now + duration;
      this.onEvent({ kind: "ejected", originId, at: now, until: s.ejectedUntil, ejections: s.ejections, reason });
    }
  }

  view(now: number): OutlierView[] {
    return [...this.states.entries()].map(([originId, s]) => ({
      originId,
      ejected: this.isEjected(originId, now),
      ejectedUntil: s.ejections > 0 ? s.ejectedUntil : null,
      ejections: s.ejections,
      totalEjections: s.totalEjections,
      consecutiveFailures: s.consecutiveFailures,
      lastFailure: s.lastFailure ?? null,
    }));
  }
}
