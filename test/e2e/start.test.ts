/** `npm start` as a user runs it: the table, the topology file, and a clean stop on SIGTERM. */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { ROOT, type Topology } from "../../scripts/network";

describe("npm start", () => {
  it("starts the network, writes the topology, and stops every process on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "dev.ts"), "--base-port", "0"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stderr.on("data", (d) => (output += d));
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${output}`)), 90_000);
      lines.on("line", (line) => {
        output += `${line}\n`;
        if (line.startsWith("topology:")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    expect(output).toMatch(/pop\s+Outpost-FRA/);
    const topology = JSON.parse(readFileSync(join(ROOT, ".outpost", "topology.json"), "utf8")) as Topology;
    expect(topology.pops).toHaveLength(4);
    // Two shards in each of the three origin regions, as outpost.config.json asks.
    expect(topology.shields.map((sh) => sh.name)).toContain("Outpost-Shield-eu-central-1");
    expect(topology.shields).toHaveLength(6);
    const response = await fetch(`${topology.pops[0].url}/index.html`);
    expect(response.headers.get("cache-status")).toContain("Outpost-IAD");
    await response.text();

    const started = Date.now();
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
    for (const url of [topology.pops[0].url, topology.origins[0].url, topology.control.url]) {
      await expect(fetch(`${url}/`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    }
  });
});
