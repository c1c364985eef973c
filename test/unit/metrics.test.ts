import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { declaredFamilies, exportedSampleNames, renderMetrics, type MetricsInput } from "../../control/metrics";
import type { HealthReport } from "../../control/state";
import type { ColoView } from "../../control/colos";
import { between, sampleOf, Timeline } from "../../control/timeline";
import { POP_COUNTERS, zeroCounters } from "../../common/metrics/counters";
import { emptyHistogram, histogramQuantile, observeInto, PopSeries, statusClass, validSeries } from "../../common/metrics/series";

function pop(name: string): ColoView {
  const series = new PopSeries();
  series.observe("ttfb", ["hit"], 0.0004);
  series.observe("ttfb", ["miss"], 0.03);
  series.observe("originResponse", ["eu-central"], 0.028);
  series.count("responses", ["2xx", "hit"], 7);
  series.count("staleByReason", ["if-error"]);
  return {
    name,
    isolates: 2,
    lastSyncAt: 1_800_000_000_000,
    mode: "long-poll",
    versionApplied: 3,
    purgeSeqApplied: 2,
    lastPurgeLagMs: 40,
    counters: { ...zeroCounters(), requests: 10, hits: 7 },
    series: series.report(),
    origins: { "eu-central": { requests: 3, errors: 1, ejected: true, ejections: 2 } },
  };
}
const health: HealthReport = {
  origins: {
    "eu-central": {
      healthy: true,
      reason: null,
      active: { healthy: true, since: 0, consecutiveSuccesses: 3, consecutiveFailures: 0, lastCheckAt: 1, lastResult: "status 200", latencyMs: 4 },
      passive: null,
      pops: {},
    },
  },
  transitions: [],
};
const propagation = emptyHistogram();
observeInto(propagation, 0.02);
const input = (pops: ColoView[]): MetricsInput => ({
  pops,
  health,
  purgeSeq: 2,
  purgeRulesRetained: 5,
  heldSyncs: 1,
  purgePropagation: { "Outpost-FRA": propagation },
  catchUps: { served: 1, lastBytes: 1234 },
  relays: { weur: 12 },
});

describe("metrics", () => {
  it("exports every declared family, with HELP and TYPE, and every counter a POP keeps", () => {
    const text = renderMetrics(input([pop("Outpost-FRA"), pop("Outpost-Shield-us-east-0")]));
    for (const family of declaredFamilies()) {
      expect(text).toContain(`# HELP ${family.metric} `);
      expect(text).toContain(`# TYPE ${family.metric} ${family.type}`);
    }
    for (const { metric } of Object.values(POP_COUNTERS)) expect(text).toMatch(new RegExp(`^${metric}\\{pop="Outpost-FRA"\\} \\d+$`, "m"));
    expect(Object.keys(zeroCounters()).sort()).toEqual(Object.keys(POP_COUNTERS).sort());
    // Every sample written has a declared name.
    const names = new Set(exportedSampleNames());
    for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) expect(names.has(line.split(/[{ ]/)[0])).toBe(true);
  });

  it("writes histograms cumulatively, with +Inf, _sum and _count", () => {
    const text = renderMetrics(input([pop("Outpost-FRA")]));
    expect(text).toContain('outpost_ttfb_seconds_bucket{pop="Outpost-FRA",result="hit",le="0.001"} 1');
    expect(text).toContain('outpost_ttfb_seconds_bucket{pop="Outpost-FRA",result="miss",le="0.025"} 0');
    expect(text).toContain('outpost_ttfb_seconds_bucket{pop="Outpost-FRA",result="miss",le="0.05"} 1');
    expect(text).toContain('outpost_ttfb_seconds_bucket{pop="Outpost-FRA",result="miss",le="+Inf"} 1');
    expect(text).toContain('outpost_ttfb_seconds_count{pop="Outpost-FRA",result="miss"} 1');
    expect(text).toContain('outpost_responses_total{pop="Outpost-FRA",status_class="2xx",result="hit"} 7');
    expect(text).toContain('outpost_origin_ejections_active{pop="Outpost-FRA",origin="eu-central"} 1');
    expect(text).toContain('outpost_origin_ejections_enforced_total{pop="Outpost-FRA",origin="eu-central"} 2');
    expect(text).toContain('outpost_purge_propagation_seconds_bucket{pop="Outpost-FRA",le="0.025"} 1');
  });

  it("accepts reported series only with declared names and bounded label values", () => {
    const isOrigin = (id: string) => id === "eu-central";
    expect(validSeries("ttfb|hit", emptyHistogram(), isOrigin)).toBe(true);
    expect(validSeries("ttfb|/some/url", emptyHistogram(), isOrigin)).toBe(false);
    expect(validSeries("originResponse|eu-central", emptyHistogram(), isOrigin)).toBe(true);
    expect(validSeries("originResponse|10.0.0.1", emptyHistogram(), isOrigin)).toBe(false);
    expect(validSeries("responses|2xx,hit", [3], isOrigin)).toBe(true);
    expect(validSeries("responses|2xx", [3], isOrigin)).toBe(false);
    expect(validSeries("responses|2xx,hit", [3, 4], isOrigin)).toBe(false);
    expect(validSeries("nonsense|x", [1], isOrigin)).toBe(false);
    expect(validSeries("__proto__|x", [1], isOrigin)).toBe(false);
  });

  it("classes statuses and reads quantiles from buckets as histogram_quantile does", () => {
    expect([statusClass(204), statusClass(304), statusClass(421), statusClass(503)]).toEqual(["2xx", "3xx", "4xx", "5xx"]);
    const h = emptyHistogram();
    for (let i = 0; i < 99; i++) observeInto(h, 0.0005);
    observeInto(h, 0.2);
    expect(histogramQuantile(0.5, h)).toBeLessThanOrEqual(0.001);
    expect(histogramQuantile(0.995, h)).toBeGreaterThan(0.1);
    expect(histogramQuantile(0.5, emptyHistogram())).toBeUndefined();
  });

  it("turns a POP's cumulative samples into rates, hit ratio, byte offload and percentiles over a window", () => {
    const series = new PopSeries();
    const a = sampleOf(0, { requests: 100, hits: 50, misses: 50, servedBytes: 1000, originBytes: 1000 }, series.report());
    for (let i = 0; i < 90; i++) series.observe("ttfb", ["hit"], 0.0005);
    for (let i = 0; i < 10; i++) series.observe("ttfb", ["miss"], 0.04);
    const b = sampleOf(10_000, { requests: 200, hits: 140, misses: 60, servedBytes: 11_000, originBytes: 2000 }, series.report());
    const stats = between(a, b);
    expect(stats.requestsPerSecond).toBe(10);
    expect(stats.hitRatio).toBeCloseTo(0.9);
    expect(stats.byteOffload).toBeCloseTo(0.9);
    // Compression is not the cache's saving: a miss sent gzipped offloads nothing.
    const compressed = between(
      sampleOf(0, { servedBytes: 0, originBytes: 0 }, undefined),
      sampleOf(1000, { servedBytes: 300, originBytes: 1000, compressionSavedBytes: 700 }, undefined),
    );
    expect(compressed.byteOffload).toBe(0);
    expect(stats.p50Ms).toBeLessThanOrEqual(1);
    expect(stats.p99Ms).toBeGreaterThan(25);
    const timeline = new Timeline();
    timeline.add(a);
    timeline.add(b);
    expect(timeline.stats(60_000, 10_000)?.requestsPerSecond).toBe(10);
    // An isolate that started over: its smaller counters begin a new history, never a negative rate.
    timeline.add(sampleOf(12_000, { requests: 5 }, undefined));
    expect(timeline.stats(60_000, 12_000)).toBeUndefined();
  });

  const promtool = spawnSync("promtool", ["--version"]).status === 0;
  it.skipIf(!promtool)("passes promtool check metrics (Debian's prometheus package; skipped when promtool is missing)", () => {
    const text = renderMetrics(input([pop("Outpost-FRA"), pop("Outpost-IAD")]));
    expect(() => execFileSync("promtool", ["check", "metrics"], { input: text, stdio: ["pipe", "pipe", "pipe"] })).not.toThrow();
  });
});
