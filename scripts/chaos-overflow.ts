/**
 * Circuit breaking under load (a chaos scenario, beside chaos-scenarios.ts):
 * a POP's nearest origin answers slowly, within its timeout, while an
 * operator has given it a maxRequests through the control API. Each isolate
 * sends the slow origin that many misses at a time; the rest go on to the
 * next origin at once instead of queueing behind it.
 */
import { CACHED_PATHS, type LoadSample, type MissFigures, missFigures, runMixedLoad, setFault, untilPopSendsTo } from "./chaos-scenarios";
import type { Topology } from "./network";

export interface OverflowResult extends MissFigures {
  pop: string;
  slowOrigin: string;
  delayMs: number;
  maxRequests: number;
}

/** The control plane's configuration as it runs, and a way to hold another (PUT /v1/config). */
async function heldConfig(topology: Topology): Promise<{ config: Record<string, unknown>; put: (config: Record<string, unknown>) => Promise<void> }> {
  const headers = { authorization: `Bearer ${topology.control.token}`, "content-type": "application/json" };
  const running = (await (await fetch(`${topology.control.url}/v1/config`, { headers })).json()) as { config: Record<string, unknown> };
  const put = async (config: Record<string, unknown>) => {
    const r = await fetch(`${topology.control.url}/v1/config`, { method: "PUT", headers, body: JSON.stringify(config) });
    if (!r.ok) throw new Error(`PUT /v1/config answered ${r.status}: ${await r.text()}`);
  };
  return { config: running.config, put };
}

export async function slowOriginAtItsLimit(
  topology: Topology,
  options: { colo?: string; originId?: string; delayMs?: number; maxRequests?: number; loadMs?: number } = {},
): Promise<OverflowResult> {
  const { colo = "FRA", originId = "eu-central", delayMs = 800, maxRequests = 1, loadMs = 4000 } = options;
  const pop = topology.pops.find((p) => p.colo === colo)!;
  const origin = topology.origins.find((o) => o.id === originId)!;
  await untilPopSendsTo(pop, originId);
  const held = await heldConfig(topology);
  const origins = held.config.origins as Record<string, unknown>[];
  await held.put({ ...held.config, origins: origins.map((o) => (o.id === originId ? { ...o, maxRequests } : o)) });
  let samples: LoadSample[];
  try {
    // Isolates take a new configuration at their next sync (a held one is answered at once).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await setFault(origin, { mode: "slow", delayMs });
    try {
      samples = (await runMixedLoad(pop, CACHED_PATHS, loadMs, 8)).filter((s) => s.kind === "miss");
    } finally {
      await setFault(origin, { mode: "ok" });
    }
  } finally {
    await held.put(held.config);
  }
  return { pop: pop.name, slowOrigin: originId, delayMs, maxRequests, ...missFigures(samples) };
}
