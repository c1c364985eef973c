/**
 * `npm start`: the local CDN. Options:
 *   --config FILE       network file (default outpost.config.json)
 *   --base-port N       first port (or OUTPOST_BASE_PORT); 0 picks free ports
 *   --origin URL        one POP in front of that origin instead of the demo origins
 *   --health-path PATH  what the probes ask that origin for (default /)
 *   --health-codes A,B  statuses that count as up (default: any below 500)
 * Writes .outpost/topology.json; Ctrl-C (SIGINT) or SIGTERM stops everything.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../common/config";
import { loadNetworkConfig } from "./network-config";
import { ROOT, startNetwork, type Topology } from "./network";

export function topologyTable(t: Topology): string {
  const rows: string[][] = [["role", "name", "url", "where"]];
  rows.push(["control", "control plane", t.control.url, "token in .outpost/topology.json"]);
  for (const p of t.pops)
    rows.push(["pop", p.name, p.url, `${p.city ?? ""} ${p.country} (${p.latitude}, ${p.longitude}), ${p.isolates} isolate${p.isolates === 1 ? "" : "s"}`.trim()]);
  for (const o of t.origins) rows.push(["origin", o.id, o.url, `${o.region} (${o.latitude}, ${o.longitude})${o.admin ? ` admin ${o.admin}` : ""}`]);
  for (const s of t.shields) rows.push(["shield", s.name, s.url, `${s.region} (in the control plane's instance)`]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ")).join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: "string", default: process.env.OUTPOST_NETWORK_CONFIG ?? join(ROOT, "outpost.config.json") },
      "base-port": { type: "string", default: process.env.OUTPOST_BASE_PORT },
      origin: { type: "string" },
      "health-path": { type: "string" },
      "health-codes": { type: "string" },
    },
  });
  let config: ReturnType<typeof loadNetworkConfig>;
  try {
    config = loadNetworkConfig(values.config!);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  if (values["base-port"] !== undefined) {
    const port = Number(values["base-port"]);
    if (!Number.isInteger(port) || port < 0 || port > 65000) {
      console.error(`--base-port: must be an integer from 0 to 65000, got "${values["base-port"]}"`);
      process.exit(2);
    }
    config.basePort = port;
  }
  if (values.origin !== undefined) {
    try {
      const url = new URL(values.origin);
      if (!/^https?:$/.test(url.protocol)) throw new Error("not http(s)");
    } catch {
      console.error(`--origin: must be an http:// or https:// URL, got "${values.origin}"`);
      process.exit(2);
    }
  }

  const healthPath = values["health-path"];
  if (healthPath !== undefined && !healthPath.startsWith("/")) {
    console.error(`--health-path: must start with /, got "${healthPath}"`);
    process.exit(2);
  }
  let healthCodes: number[] | undefined;
  if (values["health-codes"] !== undefined) {
    healthCodes = values["health-codes"].split(",").map((c) => Number(c.trim()));
    if (healthCodes.length === 0 || healthCodes.some((c) => !Number.isInteger(c) || c < 100 || c > 599)) {
      console.error(`--health-codes: must be status codes from 100 to 599, separated by commas, got "${values["health-codes"]}"`);
      process.exit(2);
    }
  }

  console.log("outpost: building the worker bundle and starting the network…");
  const network = await startNetwork({
    config,
    externalOrigin: values.origin,
    externalMonitor: { ...(healthPath ? { path: healthPath } : {}), ...(healthCodes ? { expectedCodes: healthCodes } : {}) },
    topologyPath: join(ROOT, ".outpost", "topology.json"),
    log: (line) => console.log(`outpost: ${line}`),
  });
  console.log(`\n${topologyTable(network.topology)}\n`);
  console.log(`control token: ${network.topology.control.token}`);
  console.log(`topology: .outpost/topology.json`);
  console.log(`dashboard: ${network.topology.control.url}/dashboard#token=${network.topology.control.token}`);
  console.log(`try: curl -i ${network.topology.pops[0].url}/index.html\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\noutpost: ${signal}, stopping…`);
    const force = setTimeout(() => process.exit(1), 8000);
    await network.stop();
    clearTimeout(force);
    process.exit(0);
  };
  // Miniflare's exit hook would exit at once with 128+signal, before origins
  // and workerd are stopped in order; ours stops everything, then exits 0.
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err) => {
  console.error(`outpost: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
