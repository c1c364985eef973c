/**
 * The labelled figures a POP keeps (histograms and counters by cache result,
 * status class, origin...), declared once: exposition name, type, help and
 * labels. Every label's values are bounded (an enumeration, or the configured
 * origins), never a URL or a client address, so the number of series stays
 * small whatever the traffic. The POP records them, sends them with its
 * syncs, and the control plane exposes them; all from this table.
 */

/** Latency buckets, seconds: 1 ms to 10 s. */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** What the cache did for a request (the Server-Timing desc and the `result` label). */
export const CACHE_RESULTS = ["hit", "stale", "miss", "pass", "error"] as const;
export type CacheResult = (typeof CACHE_RESULTS)[number];

export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export const STALE_REASONS = ["while-revalidate", "if-error"] as const;
export type StaleReason = (typeof STALE_REASONS)[number];

/** A label's allowed values: an enumeration, or an origin (a configured origin's id, or a shield shard's). */
export type LabelDomain = readonly string[] | "origin";

export interface SeriesDeclaration {
  metric: string;
  type: "counter" | "histogram";
  help: string;
  /** Label names in the order values are recorded, each with its domain. */
  labels: readonly (readonly [string, LabelDomain])[];
}

export const POP_SERIES = {
  ttfb: {
    metric: "outpost_ttfb_seconds",
    type: "histogram",
    help: "Time from a request's arrival at the POP to its response headers, by cache result.",
    labels: [["result", CACHE_RESULTS]],
  },
  originResponse: {
    metric: "outpost_origin_response_seconds",
    type: "histogram",
    help: "Time from sending a request forward to the response headers, by origin (or shield shard).",
    labels: [["origin", "origin"]],
  },
  responses: {
    metric: "outpost_responses_total",
    type: "counter",
    help: "Responses sent to clients, by status class and cache result.",
    labels: [
      ["status_class", STATUS_CLASSES],
      ["result", CACHE_RESULTS],
    ],
  },
  staleByReason: {
    metric: "outpost_stale_serves_by_reason_total",
    type: "counter",
    help: "Stale responses served, by reason (RFC 5861): while-revalidate or if-error.",
    labels: [["reason", STALE_REASONS]],
  },
} as const satisfies Record<string, SeriesDeclaration>;

export type SeriesName = keyof typeof POP_SERIES;

/** One series as it travels: a counter's value, or a histogram's bucket counts (not cumulative, +Inf last) then its sum. */
export type SeriesValues = number[];
/** A POP's series, by key (see seriesKey). */
export type SeriesReport = Record<string, SeriesValues>;

const KEY_SEPARATOR = "|";

/** `ttfb|hit`, `responses|2xx,hit`: the declaration's name, then label values in declared order. */
export function seriesKey(name: SeriesName, labelValues: readonly string[]): string {
  return `${name}${KEY_SEPARATOR}${labelValues.join(",")}`;
}

export function parseSeriesKey(key: string): { name: SeriesName; labelValues: string[] } | undefined {
  const at = key.indexOf(KEY_SEPARATOR);
  if (at < 0) return undefined;
  const name = key.slice(0, at);
  if (!Object.hasOwn(POP_SERIES, name)) return undefined;
  const labelValues = key.slice(at + 1).split(",");
  return { name: name as SeriesName, labelValues };
}

/** Does a reported series belong to a declaration, with every label value in its domain? */
export function validSeries(key: string, values: SeriesValues, isOrigin: (id: string) => boolean): boolean {
  const parsed = parseSeriesKey(key);
  if (!parsed) return false;
  const declaration: SeriesDeclaration = POP_SERIES[parsed.name];
  if (parsed.labelValues.length !== declaration.labels.length) return false;
  for (const [i, [, domain]] of declaration.labels.entries()) {
    const value = parsed.labelValues[i];
    if (domain === "origin" ? !isOrigin(value) : !domain.includes(value)) return false;
  }
  const length = declaration.type === "histogram" ? LATENCY_BUCKETS_SECONDS.length + 2 : 1;
  return values.length === length && values.every((v) => Number.isFinite(v) && v >= 0);
}

export function statusClass(status: number): StatusClass {
  return STATUS_CLASSES[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))];
}

/** The bucket a latency falls in (LATENCY_BUCKETS_SECONDS.length: +Inf). */
function bucketIndex(seconds: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_SECONDS.length; i++) if (seconds <= LATENCY_BUCKETS_SECONDS[i]) return i;
  return LATENCY_BUCKETS_SECONDS.length;
}

export function emptyHistogram(): SeriesValues {
  return new Array<number>(LATENCY_BUCKETS_SECONDS.length + 2).fill(0);
}

export function observeInto(histogram: SeriesValues, seconds: number): void {
  histogram[bucketIndex(seconds)]++;
  histogram[LATENCY_BUCKETS_SECONDS.length + 1] += seconds;
}

/** The labelled figures one isolate has recorded since it started. */
export class PopSeries {
  private readonly values = new Map<string, SeriesValues>();

  count(name: SeriesName, labelValues: readonly string[], by = 1): void {
    const key = seriesKey(name, labelValues);
    const current = this.values.get(key);
    if (current) current[0] += by;
    else this.values.set(key, [by]);
  }

  observe(name: SeriesName, labelValues: readonly string[], seconds: number): void {
    const key = seriesKey(name, labelValues);
    let current = this.values.get(key);
    if (!current) this.values.set(key, (current = emptyHistogram()));
    observeInto(current, seconds);
  }

  /** A copy, for a sync report. */
  report(): SeriesReport {
    const out: SeriesReport = {};
    for (const [key, values] of this.values) out[key] = [...values];
    return out;
  }
}

/** Bucket counts (not cumulative) merged over series; the count is their sum. */
export function mergeHistograms(histograms: readonly SeriesValues[]): SeriesValues {
  const merged = emptyHistogram();
  for (const h of histograms) for (let i = 0; i < merged.length; i++) merged[i] += h[i] ?? 0;
  return merged;
}

/**
 * A quantile from bucket counts, interpolated within its bucket as
 * Prometheus's histogram_quantile does; undefined without observations.
 */
export function histogramQuantile(q: number, buckets: SeriesValues): number | undefined {
  const counts = buckets.slice(0, LATENCY_BUCKETS_SECONDS.length + 1);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (seen + counts[i] >= rank && counts[i] > 0) {
      if (i === LATENCY_BUCKETS_SECONDS.length) return LATENCY_BUCKETS_SECONDS[i - 1];
      const lower = i === 0 ? 0 : LATENCY_BUCKETS_SECONDS[i - 1];
      const upper = LATENCY_BUCKETS_SECONDS[i];
      return lower + ((upper - lower) * (rank - seen)) / counts[i];
    }
    seen += counts[i];
  }
  return LATENCY_BUCKETS_SECONDS.at(-1);
}
