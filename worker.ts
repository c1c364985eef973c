/**
 * The worker every POP runs, and the control plane's home: one script, so
 * that `wrangler deploy` ships both. The composition root: the one module
 * that imports both edge/ and control/, which never import each other. Requests for a control host go to the
 * control API; everything else goes through the edge pipeline.
 */
import { createControlApp, type ControlBindings, type RelayStub } from "./control/api";
import { ControlPlane } from "./control/durable-object";
import { Relay } from "./control/relay-object";
import { Shield } from "./edge/shield/shard";
import { routeToShard, shardStub } from "./edge/shield/route";
import { DEFAULT_CONTROL_HOST } from "./common/settings";
import type { ControlPlaneRpc } from "./control/rpc";
import type { Env } from "./common/env";
import { handleEdgeRequest } from "./edge/pipeline";

export { ControlPlane, Relay, Shield };

const controlApp = createControlApp({
  plane: (env: ControlBindings) => {
    const ns = (env as Env).CONTROL_PLANE;
    if (!ns) throw new Error("CONTROL_PLANE binding missing");
    return ns.get(ns.idFromName("global")) as unknown as ControlPlaneRpc;
  },
  shieldRoute: (request, env, region, shard) => routeToShard(request, env as Env, region, shard),
  shield: (env, address) => shardStub(env as Env, address),
  coloCache: () => caches.default,
  // One relay per location hint, placed there: the name is the hint.
  relay: (env, name) => {
    const ns = (env as Env).RELAY;
    return ns ? (ns.get(ns.idFromName(name), { locationHint: name }) as unknown as RelayStub) : undefined;
  },
});

function isControlRequest(request: Request, env: Env): boolean {
  const role = env.OUTPOST_ROLE ?? "both";
  if (role !== "both") return role === "control";
  const host = new URL(request.url).hostname.toLowerCase();
  const hosts = (env.CONTROL_HOSTS ?? DEFAULT_CONTROL_HOST).split(",").map((h) => h.trim().toLowerCase());
  return hosts.includes(host);
}

export default {
  fetch(request, env, ctx) {
    if (isControlRequest(request, env)) return controlApp.fetch(request, env, ctx);
    return handleEdgeRequest(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
