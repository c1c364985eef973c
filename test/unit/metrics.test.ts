import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { renderMetrics } from "../../control/metrics";
import type { HealthReport, PopSync } from "../../control/state";
import { POP_COUNTERS, zeroCounters } from "../../edge/metrics/counters";

const pop = (name: string): PopSync => ({
  name,
  lastSyncAt: 1_800_000_000_000,
  versionApplied: 3,
  purgeSeqApplied: 2,
  lastPurgeLagMs: 40,
  counters: { ...zeroCounters(), requests: 10, hits: 7 },
  origins: { "eu-central": { requests: 3, errors: 1 } },
});
const health: HealthReport = { origins: { "eu-central": { healthy: true, reason: null, active: null, passive: null, pops: {} } }, transitions: [] };

describe("metrics", () => {
  it("exports every counter a POP keeps, from its one declaration, with HELP and TYPE", () => {
    const text = renderMetrics([pop("Outpost-FRA"), pop("Outpost-Shield-us-east-0")], health, 2, 5);
    for (const { metric } of Object.values(POP_COUNTERS)) {
      expect(text).toContain(`# TYPE ${metric} counter`);
      expect(text).toMatch(new RegExp(`^${metric}\\{pop="Outpost-FRA"\\} \\d+$`, "m"));
    }
    expect(Object.keys(zeroCounters()).sort()).toEqual(Object.keys(POP_COUNTERS).sort());
  });

  const promtool = spawnSync("promtool", ["--version"]).status === 0;
  it.skipIf(!promtool)("passes promtool check metrics (Debian's prometheus package; skipped when promtool is missing)", () => {
    const text = renderMetrics([pop("Outpost-FRA")], health, 2, 5);
    expect(() => execFileSync("promtool", ["check", "metrics"], { input: text })).not.toThrow();
  });
});
