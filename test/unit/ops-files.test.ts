/**
 * The Prometheus and Grafana files in ops/ against what /metrics exports:
 * every metric a query names is declared (so the dashboards cannot drift
 * from the code), and promtool accepts the scrape configuration and rules.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exportedSampleNames } from "../../control/metrics";

const OPS = join(__dirname, "..", "..", "ops");
const exported = new Set(exportedSampleNames());

function metricNames(promql: string): string[] {
  return [...promql.matchAll(/\b(outpost_[a-z0-9_]+)\b/g)].map((m) => m[1]);
}

interface GrafanaPanel {
  title: string;
  targets?: { expr: string }[];
}

describe("ops files", () => {
  it("the Grafana dashboard's queries name only metrics /metrics exports, and every panel has one", () => {
    const dashboard = JSON.parse(readFileSync(join(OPS, "grafana", "outpost.json"), "utf8")) as { panels: GrafanaPanel[]; uid: string };
    expect(dashboard.uid).toBe("outpost-cdn");
    expect(dashboard.panels.length).toBeGreaterThan(10);
    for (const panel of dashboard.panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        const names = metricNames(target.expr);
        expect(names.length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0);
        for (const name of names) expect(exported.has(name), `${panel.title} queries ${name}, which /metrics does not export`).toBe(true);
      }
    }
  });

  it("the alerting rules name only exported metrics", () => {
    const rules = readFileSync(join(OPS, "prometheus", "rules.yml"), "utf8");
    const names = metricNames(rules);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) expect(exported.has(name), name).toBe(true);
  });

  const promtool = spawnSync("promtool", ["--version"]).status === 0;
  it.skipIf(!promtool)("promtool check config and check rules pass (skipped without Debian's prometheus package)", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-prometheus-"));
    try {
      copyFileSync(join(OPS, "prometheus", "prometheus.yml"), join(dir, "prometheus.yml"));
      copyFileSync(join(OPS, "prometheus", "rules.yml"), join(dir, "rules.yml"));
      writeFileSync(join(dir, "outpost-token"), "opk_example\n");
      expect(() => execFileSync("promtool", ["check", "config", join(dir, "prometheus.yml")], { stdio: "pipe" })).not.toThrow();
      expect(() => execFileSync("promtool", ["check", "rules", join(dir, "rules.yml")], { stdio: "pipe" })).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
