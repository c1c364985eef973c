/**
 * The control plane's Durable Object: one instance ("global") holds the
 * truth. Thin on purpose: ControlState does the work; this class gives it
 * durable storage and exposes it over RPC.
 */
import { DurableObject } from "cloudflare:workers";
import { ControlState } from "./state";
import type { ControlPlaneRpc } from "./rpc";
import type { OriginOverride } from "./snapshot";

export class ControlPlane extends DurableObject implements ControlPlaneRpc {
  private readonly state: ControlState;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.state = new ControlState({
      get: (key) => ctx.storage.get(key),
      put: (key, value) => ctx.storage.put(key, value),
    });
  }

  snapshot(pop: string | undefined, have: number) {
    return this.state.snapshot(pop, have);
  }
  pops() {
    return this.state.pops();
  }
  overrides() {
    return this.state.overrides();
  }
  health() {
    return this.state.health();
  }
  patchOrigin(id: string, patch: OriginOverride) {
    return this.state.patchOrigin(id, patch);
  }
}
