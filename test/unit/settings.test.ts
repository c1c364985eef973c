import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../common/config";
import { parseSettings, purgeHorizonMs } from "../../common/settings";

describe("settings from the environment", () => {
  it("parses numbers and applies defaults", () => {
    expect(parseSettings({ SNAPSHOT_REFRESH_MS: "250" })).toEqual({
      METRICS_REPORT_MS: 30000,
      SNAPSHOT_REFRESH_MS: 250,
      SNAPSHOT_LONG_POLL_MS: 20_000,
      CONTROL_RATE_LIMIT_PER_MINUTE: 600,
      PURGE_CATCH_UP_AFTER: 2000,
      OUTPOST_ROLE: "both",
    });
    expect(() => parseSettings({ SNAPSHOT_LONG_POLL_MS: "60000" })).toThrow(/SNAPSHOT_LONG_POLL_MS/);
    expect(parseSettings({}).SNAPSHOT_REFRESH_MS).toBe(1000);
  });
  it("refuses a value that is not what it should be, naming the variable", () => {
    expect(() => parseSettings({ SNAPSHOT_REFRESH_MS: "1s" })).toThrow(ConfigError);
    expect(() => parseSettings({ SNAPSHOT_REFRESH_MS: "1s" })).toThrow(/SNAPSHOT_REFRESH_MS: must be a whole number/);
    expect(() => parseSettings({ CONTROL_RATE_LIMIT_PER_MINUTE: "0" })).toThrow(/CONTROL_RATE_LIMIT_PER_MINUTE/);
    expect(() => parseSettings({ OUTPOST_ROLE: "edge" })).toThrow(/OUTPOST_ROLE/);
  });
  it("derives the purge horizon from the configuration, one source for POPs and control plane", () => {
    const config = parseConfig({
      origins: [{ id: "o", url: "http://127.0.0.1:1", region: "eu-central" }],
      sites: [{ id: "s", hosts: ["cdn.example.com"], origins: ["o"] }],
      cache: { maxRetentionSeconds: 3600 },
    });
    expect(purgeHorizonMs(config)).toBe((3600 + 86400) * 1000);
  });
  it("refuses .invalid site hosts, which no client can reach", () => {
    expect(() =>
      parseConfig({ origins: [{ id: "o", url: "http://127.0.0.1:1", region: "eu-central" }], sites: [{ id: "s", hosts: ["outpost.invalid"], origins: ["o"] }] }),
    ).toThrow(/never resolves/);
  });
});

describe("memory defaults on a 128 MB isolate", () => {
  it("leave the isolate most of its memory: the in-isolate tier takes a quarter at most", () => {
    const config = parseConfig({ origins: [{ id: "o", url: "http://o.test", region: "us-east" }], sites: [{ id: "s", hosts: ["s.test"], origins: ["o"] }] });
    expect(config.cache.memoryBytes).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(config.shield.memoryBytes).toBeLessThanOrEqual(32 * 1024 * 1024);
  });
});
