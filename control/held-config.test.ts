import { describe, expect, it } from "vitest";
import { parseConfig } from "../common/config";
import { ControlState } from "./state";
import { MemoryControlStorage } from "./storage";
import { configFromRows, configRows } from "./held-config";

const bootstrap = parseConfig({
  origins: [{ id: "o", url: "http://127.0.0.1:1", region: "us-east" }],
  sites: [{ id: "s", hosts: ["h"], origins: ["o"] }],
});

/** A configuration far past a variable's 5 KB: 100 sites of 20 hosts. */
function bigConfig() {
  return {
    origins: [
      { id: "b", url: "http://127.0.0.1:3", region: "eu-west" },
      { id: "a", url: "http://127.0.0.1:2", region: "us-east" },
    ],
    sites: Array.from({ length: 100 }, (_, i) => ({ id: `site-${i}`, hosts: Array.from({ length: 20 }, (_, j) => `h${j}.site-${i}.example`), origins: ["a", "b"] })),
    cache: { memoryBytes: 16 * 1024 * 1024 },
  };
}

describe("the configuration the control plane holds", () => {
  it("is stored as a row per origin, per site and one for the rest, and read back in order", () => {
    const config = bigConfig();
    const rows = configRows(config);
    expect(rows.size).toBe(2 + 100 + 1);
    expect(configFromRows(rows)).toEqual({ cache: config.cache, origins: config.origins, sites: config.sites });
  });

  it("runs everything once put, rewrites only what changed, and survives a restart", async () => {
    const storage = new MemoryControlStorage();
    const writes: string[] = [];
    const putRow = storage.putRow.bind(storage);
    storage.putRow = async (table, id, value) => {
      writes.push(`${table}/${id}`);
      return putRow(table, id, value);
    };
    const state = new ControlState(
      storage,
      () => bootstrap,
      () => 1_000_000,
      () => undefined,
    );
    expect(await state.configuration()).toEqual({ version: 0, text: undefined });
    const config = bigConfig();
    expect(JSON.stringify(config).length).toBeGreaterThan(5 * 1024);
    const before = (await state.snapshot(undefined, 0)).version;
    expect(await state.putConfiguration(config)).toEqual({ version: 1 });
    const snapshot = await state.snapshot(undefined, 0);
    expect(snapshot.configVersion).toBe(1);
    expect(snapshot.version).toBeGreaterThan(before);
    // The held configuration is what the control plane itself runs: origins it probes, hosts it purges.
    expect(Object.keys((await state.health()).origins).sort()).toEqual(["a", "b"]);

    writes.length = 0;
    config.sites[7].hosts.push("new.site-7.example");
    expect(await state.putConfiguration(config)).toEqual({ version: 2 });
    expect(writes.filter((w) => w.startsWith("config/"))).toEqual(["config/site:site-7"]);

    const restarted = new ControlState(
      storage,
      () => bootstrap,
      () => 1_000_000,
      () => undefined,
    );
    const held = await restarted.configuration();
    expect(held.version).toBe(2);
    expect(JSON.parse(held.text ?? "{}").sites[7].hosts).toContain("new.site-7.example");
  });
});
