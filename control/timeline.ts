/**
 * A POP's recent figures as a short time series, so the dashboard can show
 * rates and percentiles over the last minutes without a metrics database:
 * samples of the POP's cumulative counters, at most one every
 * SAMPLE_SPACING_MS, for RETAIN_MS. Pure; the control plane keeps one per POP
 * in memory (a restart starts them over, as Prometheus counters do).
 */
import type { WindowStats } from "./views";
import { mergeHistograms, histogramQuantile, parseSeriesKey, type SeriesReport, type SeriesValues } from "../common/metrics/series";

export const SAMPLE_SPACING_MS = 1000;
export const RETAIN_MS = 10 * 60_000;

export interface TimelineSample {
  at: number;
  requests: number;
  hits: number;
  misses: number;
  staleServes: number;
  servedBytes: number;
  originBytes: number;
  compressionSavedBytes: number;
  /** Time to first byte over every cache result: bucket counts, then the sum. */
  ttfb: SeriesValues;
}

export type { WindowStats } from "./views";

export function sampleOf(at: number, counters: Record<string, number>, series: SeriesReport | undefined): TimelineSample {
  const ttfb: SeriesValues[] = [];
  for (const [key, values] of Object.entries(series ?? {})) if (parseSeriesKey(key)?.name === "ttfb") ttfb.push(values);
  return {
    at,
    requests: counters.requests ?? 0,
    hits: counters.hits ?? 0,
    misses: counters.misses ?? 0,
    staleServes: counters.staleServes ?? 0,
    servedBytes: counters.servedBytes ?? 0,
    originBytes: counters.originBytes ?? 0,
    compressionSavedBytes: counters.compressionSavedBytes ?? 0,
    ttfb: mergeHistograms(ttfb),
  };
}

export class Timeline {
  private samples: TimelineSample[] = [];

  add(sample: TimelineSample): void {
    const last = this.samples.at(-1);
    if (last && sample.at < last.at) return;
    // An isolate that started over reports smaller counters: its history no longer subtracts.
    if (last && sample.requests < last.requests) this.samples = [];
    if (last && sample.at - last.at < SAMPLE_SPACING_MS) this.samples[this.samples.length - 1] = sample;
    else this.samples.push(sample);
    const horizon = sample.at - RETAIN_MS;
    while (this.samples.length > 2 && this.samples[0].at < horizon) this.samples.shift();
  }

  /** Figures over the last `windowMs` (or what there is of it). */
  stats(windowMs: number, now: number): WindowStats | undefined {
    const newest = this.samples.at(-1);
    if (!newest) return undefined;
    const oldest = this.samples.find((s) => s.at >= now - windowMs && s !== newest) ?? (this.samples.length > 1 ? this.samples[0] : undefined);
    if (!oldest) return undefined;
    return between(oldest, newest);
  }

  /** Requests per second in each interval, oldest first (for a sparkline). */
  rates(): { at: number; requestsPerSecond: number }[] {
    const out: { at: number; requestsPerSecond: number }[] = [];
    for (let i = 1; i < this.samples.length; i++) {
      const [a, b] = [this.samples[i - 1], this.samples[i]];
      out.push({ at: b.at, requestsPerSecond: (b.requests - a.requests) / Math.max(0.001, (b.at - a.at) / 1000) });
    }
    return out;
  }
}

export function between(oldest: TimelineSample, newest: TimelineSample): WindowStats {
  const seconds = Math.max(0.001, (newest.at - oldest.at) / 1000);
  const hits = newest.hits - oldest.hits;
  const lookups = hits + newest.misses - oldest.misses;
  const served = newest.servedBytes - oldest.servedBytes;
  const fromOrigin = newest.originBytes - oldest.originBytes;
  const uncompressed = served + newest.compressionSavedBytes - oldest.compressionSavedBytes;
  const ttfb = newest.ttfb.map((v, i) => v - (oldest.ttfb[i] ?? 0));
  const p50 = histogramQuantile(0.5, ttfb);
  const p99 = histogramQuantile(0.99, ttfb);
  return {
    seconds,
    requestsPerSecond: (newest.requests - oldest.requests) / seconds,
    hitRatio: lookups > 0 ? hits / lookups : undefined,
    byteOffload: uncompressed > 0 ? Math.max(0, 1 - fromOrigin / uncompressed) : undefined,
    servedBytesPerSecond: served / seconds,
    p50Ms: p50 === undefined ? undefined : p50 * 1000,
    p99Ms: p99 === undefined ? undefined : p99 * 1000,
  };
}
