/**
 * A shield shard: one Durable Object per (region, shard), placed near the
 * region's origins. It runs the same pipeline as a POP (RFC 9111 freshness,
 * stale-while-revalidate and stale-if-error, conditional requests, purge
 * rules) with its storage behind an in-memory LRU, so every POP's miss for a
 * key it owns becomes at most one origin request: its pipeline collapses
 * concurrent fills. Thin on purpose: the pipeline does the work.
 *
 * It is reached only through the control worker's SHIELD_ROUTE (route.ts; POP token),
 * which passes the client's URL and the POP's purge position as fields.
 */
import { DurableObject } from "cloudflare:workers";
import { SqlStore } from "../cache/sql-store";
import { configFromText } from "../../common/config";
import { configText } from "../../common/config-source";
import type { Env } from "../../common/env";
import { primaryKey } from "../../common/cache-key";
import { handleEdgeRequest } from "../pipeline";
import { Pop } from "../pop";
import { regionPoint, shieldAddress } from "../../common/shield/placement";
import { SHIELD_ANSWER, SHIELD_FIELDS, shieldUnavailable } from "../../common/shield/protocol";

export class Shield extends DurableObject<Env> {
  /**
   * This instance's Pop. Never an isolate-wide one: shards share an isolate, and
   * a Pop holds this instance's storage and bindings, which another instance
   * (or this shard's next one, after the runtime recreates it) may not touch.
   */
  private pop: Pop | undefined;
  /** The configuration text its Pop was built from. */
  private popConfig: string | undefined;
  /** Set through the fault switch (chaos and tests): the shard answers as unavailable. */
  private down = false;

  override async fetch(request: Request): Promise<Response> {
    if (new URL(request.url).pathname === "/__fault") {
      this.down = ((await request.json()) as { down?: boolean }).down === true;
      return Response.json({ down: this.down });
    }
    if (this.down) return shieldUnavailable("shard switched down");
    const [region, shardText] = (request.headers.get(SHIELD_FIELDS.shard) ?? "").split(":");
    const target = request.headers.get(SHIELD_FIELDS.url);
    if (!region || !target) return shieldUnavailable("request lacks the shield fields");
    const address = shieldAddress(region, Number(shardText) || 0);
    // A changed configuration (the control plane's, fetched at a sync) builds the shard's Pop anew.
    const text = configText(this.env);
    if (!this.pop || this.popConfig !== text) {
      this.popConfig = text;
      this.pop = new Pop(this.env, address.name, { shield: address, store: () => new SqlStore(this.ctx.storage.sql, configFromText(text).shield.storageBytes) });
    }
    const pop = this.pop;
    const nonce = request.headers.get(SHIELD_FIELDS.nonce) ?? "";
    // An invalidation is the POP's own POST, never a fill that happens to carry the field.
    if (request.method === "POST" && request.headers.get(SHIELD_FIELDS.invalidate) === "1") {
      let url: URL;
      try {
        url = new URL(target);
      } catch {
        return shieldUnavailable("invalidation target is not a URL");
      }
      await pop.tiers.invalidate(primaryKey(url, pop.config.cache.key), (p) => this.ctx.waitUntil(p));
      return new Response(null, { status: 204, headers: { [SHIELD_ANSWER]: nonce } });
    }
    if (request.method !== "GET") return shieldUnavailable(`a shard fills GETs only, not ${request.method}`);
    const purgeSeq = Number(request.headers.get(SHIELD_FIELDS.purgeSeq) ?? 0);
    await pop.catchUpWith(Number.isFinite(purgeSeq) ? purgeSeq : 0, request.headers.get(SHIELD_FIELDS.purgeEpoch) ?? undefined);
    const headers = new Headers(request.headers);
    for (const name of Object.values(SHIELD_FIELDS)) headers.delete(name);
    const point = regionPoint(region);
    const cf = { colo: address.name, latitude: String(point.latitude), longitude: String(point.longitude) } as unknown as IncomingRequestCfProperties;
    const ctx = { waitUntil: (p: Promise<unknown>) => this.ctx.waitUntil(p), passThroughOnException: () => undefined, props: {} } as unknown as ExecutionContext;
    const budget = Number(request.headers.get(SHIELD_FIELDS.budget) ?? NaN);
    const deadline = Number.isFinite(budget) && budget >= 0 ? Date.now() + budget : undefined;
    const answer = await handleEdgeRequest(new Request(target, { method: request.method, headers }), this.env, ctx, { pop, cf, deadline });
    return answeredByShard(answer, nonce);
  }
}

/** The pipeline's answer, marked as the shard's own (see SHIELD_ANSWER). */
function answeredByShard(answer: Response, nonce: string): Response {
  try {
    // Every answer of the pipeline is a Response of ours, whose fields may change: no copy.
    answer.headers.set(SHIELD_ANSWER, nonce);
    return answer;
  } catch {
    // An encoded body stays as it is (a copy would otherwise be encoded again by the runtime).
    const encoded = answer.headers.has("content-encoding");
    const marked = new Response(answer.body, { status: answer.status, headers: answer.headers, ...(encoded ? { encodeBody: "manual" as const } : {}) });
    marked.headers.set(SHIELD_ANSWER, nonce);
    return marked;
  }
}
