/**
 * The control worker's SHIELD_ROUTE: a POP's miss (or its invalidation after
 * an unsafe request) on its way to the shard that owns the key. The POP token
 * comes in its own field, since the client's Authorization goes on, untouched,
 * to the origin; it is dropped here, and the shard's name set, before the
 * shard (shard.ts) sees the request. A failure of the route or the shard is
 * shieldUnavailable: no SHIELD_ANSWER, so the POP goes to the origin itself.
 */
import { grants, tokenStoreFor } from "../../common/auth";
import { configFromText } from "../../common/config";
import { configText } from "../../common/config-source";
import type { Env } from "../../common/env";
import { locationHint, shardNamed, type ShieldAddress } from "../../common/shield/placement";
import { SHIELD_FIELDS, shieldUnavailable } from "../../common/shield/protocol";

/** A shard's stub, placed by its region's location hint; undefined without a SHIELD binding. */
export function shardStub(env: Env, address: ShieldAddress): DurableObjectStub | undefined {
  const ns = env.SHIELD;
  if (!ns) return undefined;
  const hint = locationHint(address.region);
  return ns.get(ns.idFromName(address.objectName), hint ? { locationHint: hint } : undefined);
}

/** A refusal of the route's own, in the control API's problem shape. */
function refusal(status: 401 | 404, error: string): Response {
  return Response.json({ error, status }, { status });
}

export async function routeToShard(request: Request, env: Env, region: string, shard: string): Promise<Response> {
  const token = request.headers.get(SHIELD_FIELDS.token);
  const grant = token ? tokenStoreFor(env.CONTROL_TOKENS, env.POP_TOKEN).authenticate(`Bearer ${token}`) : undefined;
  if (!grant || !grants(grant, "pop")) return refusal(401, "the shield answers POPs only");
  const named = shardNamed(region, shard, configFromText(configText(env)).shield.shardsPerRegion);
  if ("problem" in named) return refusal(404, named.problem);
  const { address } = named;
  const stub = shardStub(env, address);
  if (!stub) return shieldUnavailable("no SHIELD binding");
  const headers = new Headers(request.headers);
  headers.delete(SHIELD_FIELDS.token);
  headers.set(SHIELD_FIELDS.shard, `${address.region}:${address.shard}`);
  try {
    return await stub.fetch("https://shield/fill", { method: request.method, headers });
  } catch (err) {
    return shieldUnavailable((err as Error).message);
  }
}
