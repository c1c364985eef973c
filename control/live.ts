/**
 * What the control plane keeps in memory only, for people watching: each
 * POP's recent figures (a Timeline of its isolates' sum), the last purges
 * with when each isolate got them, recent ejections and health changes, and purge propagation lag as a
 * histogram. Bounded; a restart starts it over. Pure (the clock is passed in).
 */
import type { LiveEvent } from "./views";
import { emptyHistogram, observeInto, type SeriesReport, type SeriesValues } from "../common/metrics/series";
import type { PurgeRule, PurgeTarget } from "../common/snapshot";
import { sampleOf, Timeline } from "./timeline";

const RECENT_PURGES = 20;
const RECENT_EVENTS = 100;

export interface RecentPurge {
  id: string;
  seq: number;
  at: number;
  soft: boolean;
  targets: PurgeTarget[];
  /**
   * Isolate (memberKey) → ms from acceptance to the sync answer that carried the purge to it. The ones it
   * must reach are the isolates known when it was accepted (their rows' `since`), found when shown: a
   * copy of 10,000 members per purge held the news back 10 ms at the global object.
   */
  reachedMs: Map<string, number>;
}

export type { LiveEvent } from "./views";

export class LiveFigures {
  readonly timelines = new Map<string, Timeline>();
  readonly purges: RecentPurge[] = [];
  readonly events: LiveEvent[] = [];
  /** Purge accepted → delivered to each of the POP's isolates, seconds, by POP. */
  readonly purgeLag = new Map<string, SeriesValues>();

  onFigures(pop: string, at: number, counters: Record<string, number>, series: SeriesReport | undefined): void {
    let timeline = this.timelines.get(pop);
    if (!timeline) this.timelines.set(pop, (timeline = new Timeline()));
    timeline.add(sampleOf(at, counters, series));
  }

  onPurgeAccepted(rule: PurgeRule): void {
    this.purges.push({ id: rule.id, seq: rule.seq, at: rule.at, soft: rule.soft, targets: rule.targets, reachedMs: new Map() });
    if (this.purges.length > RECENT_PURGES) this.purges.shift();
  }

  /** A sync answer carried purges up to `seq` to an isolate (`key`) of `pop`. */
  onDelivered(key: string, pop: string, seq: number, now: number): void {
    for (const purge of this.purges) {
      if (purge.seq > seq || purge.reachedMs.has(key)) continue;
      const ms = Math.max(0, now - purge.at);
      purge.reachedMs.set(key, ms);
      let histogram = this.purgeLag.get(pop);
      if (!histogram) this.purgeLag.set(pop, (histogram = emptyHistogram()));
      observeInto(histogram, ms / 1000);
    }
  }

  onEvent(event: LiveEvent): void {
    this.events.push(event);
    if (this.events.length > RECENT_EVENTS) this.events.shift();
  }
}
