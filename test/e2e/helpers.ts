/** Shared by the end-to-end tests: the default network on free ports. */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { loadNetworkConfig } from "../../scripts/network-config";
import { ROOT, startNetwork, type Network, type NetworkOptions } from "../../scripts/network";

export async function startTestNetwork(overrides: Partial<NetworkOptions> = {}): Promise<Network> {
  const config = loadNetworkConfig(join(ROOT, "outpost.config.json"));
  config.basePort = 0;
  return startNetwork({ config, snapshotRefreshMs: 200, buildDir: join(ROOT, ".outpost", "test-build"), ...overrides });
}

export { postFault as setFault } from "../../scripts/chaos-scenarios";

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let counter = 0;
export function unique(path: string): string {
  return `${path}${path.includes("?") ? "&" : "?"}n=${process.pid}-${Date.now()}-${++counter}`;
}

/** A cold generated object of a size of its own (origins count requests by path): the path to ask, and the path counted. */
export function coldObject(bytes: number, ttl: number): { path: string; counted: string } {
  return { path: unique(`/gen/${bytes}?ttl=${ttl}`), counted: `/gen/${bytes}` };
}

/** Requests every origin of the network has had for one path (origin-stats.ts). */
export { originRequests } from "../../scripts/origin-stats";

/** A program on this machine: the first candidate path that exists, else what `command -v` finds. */
export function findBinary(candidates: (string | undefined)[], commands: string[]): string | undefined {
  const found = candidates.find((p) => p && existsSync(p));
  if (found) return found;
  const which = spawnSync("sh", ["-c", commands.map((c) => `command -v ${c}`).join(" || ")], { encoding: "utf8" });
  return which.status === 0 ? which.stdout.trim() || undefined : undefined;
}

/** Debian's Chromium (or CHROMIUM_PATH), for the browser tests; undefined when there is none. */
export function findChromium(): string | undefined {
  return findBinary([process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"], ["chromium", "chromium-browser"]);
}

/** A raw GET: no client-side decoding. */
export function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}
