/** Shared by the end-to-end tests: the default network on free ports. */
import { join } from "node:path";
import { loadNetworkConfig } from "../../scripts/network-config";
import { ROOT, startNetwork, type Network, type NetworkOptions, type Topology } from "../../scripts/network";

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

/** Requests every origin of the network has had for one path (health probes and other paths left out). */
export async function originRequests(topology: Topology, path: string): Promise<number> {
  let total = 0;
  for (const origin of topology.origins) {
    const stats = (await (await fetch(`${origin.admin}/stats`)).json()) as { byPath: Record<string, number> };
    total += stats.byPath[path] ?? 0;
  }
  return total;
}
