/**
 * The control API (Hono, JSON, under /v1). It authenticates, validates, and
 * asks the control plane; no platform imports, so Node tests can call it
 * with app.request().
 */
import { Hono, type Context } from "hono";
import { z } from "zod";
import { parseConfig, type OutpostConfig } from "../edge/config";
import { grants, TokenStore, type Scope, type TokenGrant } from "./auth";
import { renderMetrics } from "./metrics";
import { OPENAPI_DOCUMENT } from "./openapi";
import { parsePurgeRequest } from "./purge-request";
import { RateLimiter } from "./rate-limit";
import { ReportSchema, SyncRequestSchema } from "./wire";
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from "./dashboard/page";
import { parseSettings } from "../edge/settings";
import type { ControlPlaneRpc } from "./rpc";
import { locationHint, shieldAddress, type ShieldAddress } from "../edge/shield/placement";
import { SHIELD_FIELDS, shieldUnavailable } from "../edge/shield/protocol";
import { REGIONS } from "../edge/routing/regions";

export interface ControlBindings {
  OUTPOST_CONFIG: string;
  CONTROL_TOKENS?: string;
  POP_TOKEN?: string;
  CONTROL_RATE_LIMIT_PER_MINUTE?: string;
}

export interface ControlDeps {
  /** The control plane for this request's environment. */
  plane: (env: ControlBindings) => ControlPlaneRpc;
  /** A shield shard's stub (a Durable Object on Cloudflare); undefined without a SHIELD binding. */
  shield?: (env: ControlBindings, objectName: string, hint: DurableObjectLocationHint | undefined) => { fetch(input: string, init?: RequestInit): Promise<Response> } | undefined;
}

type AppEnv = { Bindings: ControlBindings; Variables: { grant: TokenGrant } };

const MAX_BODY_BYTES = 64 * 1024;

const OriginPatchSchema = z
  .object({
    weight: z.number().int().min(0).max(1000).optional(),
    enabled: z.boolean().optional(),
    draining: z.boolean().optional(),
  })
  .strict()
  .refine((v) => Object.keys(v).length > 0, "give at least one of weight, enabled, draining");

function problem(c: Context, status: 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500, error: string, extra: Record<string, unknown> = {}) {
  return c.json({ error, status, ...extra }, status);
}

/** Reads a JSON body with a size bound; the error names what was wrong. */
async function readJson(c: Context): Promise<{ ok: true; value: unknown } | { ok: false; response: Response }> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) return { ok: false, response: problem(c, 415, "content-type must be application/json") };
  const text = await c.req.text();
  if (new TextEncoder().encode(text).byteLength > MAX_BODY_BYTES) {
    return { ok: false, response: problem(c, 413, `body larger than ${MAX_BODY_BYTES} bytes`) };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, response: problem(c, 400, "body is not valid JSON", { detail: (err as Error).message }) };
  }
}

function zodErrors(error: z.ZodError): { field: string; message: string }[] {
  return error.issues.map((i) => ({ field: i.path.join(".") || "(body)", message: i.message }));
}

const configCache = new Map<string, OutpostConfig>();
function configOf(env: ControlBindings): OutpostConfig {
  let config = configCache.get(env.OUTPOST_CONFIG);
  if (!config) {
    config = parseConfig(env.OUTPOST_CONFIG, "OUTPOST_CONFIG");
    configCache.clear();
    configCache.set(env.OUTPOST_CONFIG, config);
  }
  return config;
}

const tokenCache = new Map<string, TokenStore>();
function tokensOf(env: ControlBindings): TokenStore {
  const id = `${env.CONTROL_TOKENS ?? ""}\n${env.POP_TOKEN ?? ""}`;
  let store = tokenCache.get(id);
  if (!store) {
    store = new TokenStore(env.CONTROL_TOKENS, env.POP_TOKEN);
    tokenCache.clear();
    tokenCache.set(id, store);
  }
  return store;
}

let limiter: { perMinute: number; limiter: RateLimiter } | undefined;
function limiterOf(env: ControlBindings): RateLimiter {
  const perMinute = parseSettings(env as unknown as Record<string, unknown>).CONTROL_RATE_LIMIT_PER_MINUTE;
  if (!limiter || limiter.perMinute !== perMinute) limiter = { perMinute, limiter: new RateLimiter(perMinute) };
  return limiter.limiter;
}

function requireScope(scope: Scope) {
  return async (c: Context<AppEnv>, next: () => Promise<void>) => {
    const grant = tokensOf(c.env).authenticate(c.req.header("authorization"));
    if (!grant) {
      // Guessing tokens costs the guesser: failures are limited per client address, as successes are per token.
      const address = c.req.header("cf-connecting-ip") ?? "unknown";
      const verdict = limiterOf(c.env).take(`failed-auth:${address}`, Date.now());
      if (!verdict.ok) {
        c.header("retry-after", String(verdict.retryAfterSeconds));
        return problem(c, 429, "too many failed authentications from this address", { retryAfterSeconds: verdict.retryAfterSeconds });
      }
      c.header("www-authenticate", 'Bearer realm="outpost"');
      return problem(c, 401, "missing or invalid bearer token");
    }
    if (!grants(grant, scope)) return problem(c, 403, `token lacks the "${scope}" scope`);
    // POPs sync several times a second by design; people and their scripts are limited per token.
    if (scope !== "pop") {
      const verdict = limiterOf(c.env).take(grant.name, Date.now());
      if (!verdict.ok) {
        c.header("retry-after", String(verdict.retryAfterSeconds));
        return problem(c, 429, "rate limit exceeded for this token", { retryAfterSeconds: verdict.retryAfterSeconds });
      }
    }
    c.set("grant", grant);
    await next();
  };
}

export function createControlApp(deps: ControlDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    console.error(`outpost control: ${err.message}`);
    return problem(c, 500, "internal error");
  });
  app.notFound((c) => problem(c, 404, "no such endpoint", { path: c.req.path }));

  app.get("/healthz", (c) => c.json({ ok: true }));

  app.get("/v1/snapshot", requireScope("pop"), async (c) => {
    const have = Number(c.req.query("have") ?? 0);
    const snapshot = await deps.plane(c.env).snapshot(c.req.query("pop"), Number.isFinite(have) ? have : 0);
    return c.json(snapshot);
  });

  /** A POP's sync: its position and counters in, the snapshot (with new purge rules) out. */
  app.post("/v1/sync", requireScope("pop"), async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.response;
    const parsed = SyncRequestSchema.safeParse(body.value);
    if (!parsed.success) return problem(c, 400, "invalid sync", { problems: zodErrors(parsed.error) });
    const { wait, ...report } = parsed.data;
    return c.json(await deps.plane(c.env).sync(report, wait));
  });

  app.get("/v1/pops", requireScope("read"), async (c) => {
    const pops = await deps.plane(c.env).pops();
    return c.json({
      pops: pops.map((p) => ({
        name: p.name,
        mode: p.mode ?? "poll",
        lastSyncAt: p.lastSyncAt,
        syncs: p.syncs ?? 0,
        versionApplied: p.versionApplied,
        purgeSeqApplied: p.purgeSeqApplied,
        lastPurgeLagMs: p.lastPurgeLagMs,
      })),
    });
  });

  app.post("/v1/purge", requireScope("purge"), async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.response;
    const request = parsePurgeRequest(body.value, configOf(c.env));
    if (!request.ok) return c.json({ success: false, errors: request.problems, messages: [], result: null, error: "invalid purge", status: 400 }, 400);
    const id = crypto.randomUUID().replace(/-/g, "");
    const rule = await deps.plane(c.env).purge(request.targets, request.soft, id);
    return c.json({ success: true, errors: [], messages: [], result: { id: rule.id, seq: rule.seq, soft: rule.soft, targets: rule.targets.length, at: new Date(rule.at).toISOString() } });
  });

  app.get("/v1/purge/:id", requireScope("read"), async (c) => {
    const status = await deps.plane(c.env).purgeStatus(c.req.param("id") ?? "");
    if (!status) return problem(c, 404, "no such purge (or older than the retention)");
    return c.json(status);
  });

  app.get("/metrics", requireScope("read"), async (c) => {
    return c.text(renderMetrics(await deps.plane(c.env).metrics()), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  // The dashboard: a page with no data in it (anyone may load it); its script reads /v1/dashboard with a read token.
  const pageHeaders = (type: string) => ({ "content-type": type, "content-security-policy": DASHBOARD_CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-cache" });
  app.get("/dashboard", (c) => c.body(DASHBOARD_HTML, 200, pageHeaders("text/html; charset=utf-8")));
  app.get("/dashboard/app.js", (c) => c.body(DASHBOARD_JS, 200, pageHeaders("text/javascript; charset=utf-8")));
  app.get("/dashboard/app.css", (c) => c.body(DASHBOARD_CSS, 200, pageHeaders("text/css; charset=utf-8")));
  app.get("/v1/dashboard", requireScope("read"), async (c) => c.json(await deps.plane(c.env).dashboard(), 200, { "cache-control": "no-store" }));

  app.get("/v1/openapi.json", (c) => c.json(OPENAPI_DOCUMENT));

  app.get("/v1/origins", requireScope("read"), async (c) => {
    const config = configOf(c.env);
    const overrides = await deps.plane(c.env).overrides();
    const origins = config.origins.map((o) => ({ ...o, ...overrides[o.id] }));
    return c.json({ origins });
  });

  app.patch("/v1/origins/:id", requireScope("admin"), async (c) => {
    const id = c.req.param("id") ?? "";
    if (!configOf(c.env).origins.some((o) => o.id === id)) return problem(c, 404, `no origin "${id}"`);
    const body = await readJson(c);
    if (!body.ok) return body.response;
    const parsed = OriginPatchSchema.safeParse(body.value);
    if (!parsed.success) return problem(c, 400, "invalid origin patch", { problems: zodErrors(parsed.error) });
    const result = await deps.plane(c.env).patchOrigin(id, parsed.data);
    return c.json({ id, ...result });
  });

  app.get("/v1/health", requireScope("read"), async (c) => c.json(await deps.plane(c.env).health()));

  /** The shard a region's shield key maps to, or a problem naming what is wrong. */
  const shardOf = (c: Context<AppEnv>): { address: ShieldAddress } | { response: Response } => {
    const region = c.req.param("region") ?? "";
    const shard = Number(c.req.param("shard"));
    const shards = configOf(c.env).shield.shardsPerRegion;
    if (!(region in REGIONS)) return { response: problem(c, 404, `no region "${region}"`) };
    if (!Number.isInteger(shard) || shard < 0 || shard >= shards) return { response: problem(c, 404, `shard must be 0 to ${shards - 1}`) };
    return { address: shieldAddress(region, shard) };
  };

  /**
   * A POP's miss, for the shard that owns its key. The POP token comes in its own field: the
   * client's Authorization goes on, untouched, to the origin.
   */
  app.all("/__shield/:region/:shard", async (c) => {
    const token = c.req.header(SHIELD_FIELDS.token);
    const grant = token ? tokensOf(c.env).authenticate(`Bearer ${token}`) : undefined;
    if (!grant || !grants(grant, "pop")) return problem(c, 401, "the shield answers POPs only");
    const target = shardOf(c);
    if ("response" in target) return target.response;
    const stub = deps.shield?.(c.env, target.address.objectName, locationHint(target.address.region));
    if (!stub) return shieldUnavailable("no SHIELD binding");
    const headers = new Headers(c.req.raw.headers);
    headers.delete(SHIELD_FIELDS.token);
    headers.set(SHIELD_FIELDS.shard, `${target.address.region}:${target.address.shard}`);
    try {
      return await stub.fetch("https://shield/fill", { method: c.req.method, headers });
    } catch (err) {
      return shieldUnavailable((err as Error).message);
    }
  });

  /** The shard's fault switch, for chaos runs: {"down": true} makes it answer as unavailable. */
  app.post("/v1/shields/:region/:shard/fault", requireScope("admin"), async (c) => {
    const target = shardOf(c);
    if ("response" in target) return target.response;
    const body = await readJson(c);
    if (!body.ok) return body.response;
    const parsed = z.object({ down: z.boolean() }).strict().safeParse(body.value);
    if (!parsed.success) return problem(c, 400, "invalid fault", { problems: zodErrors(parsed.error) });
    const stub = deps.shield?.(c.env, target.address.objectName, locationHint(target.address.region));
    if (!stub) return problem(c, 404, "no SHIELD binding");
    const answer = await stub.fetch("https://shield/__fault", { method: "POST", body: JSON.stringify(parsed.data) });
    return c.json({ shield: target.address.name, ...((await answer.json()) as object) });
  });

  /** POPs report passive ejections and recoveries here (the control plane shares them with every POP), and their figures between held syncs. */
  app.post("/v1/reports", requireScope("pop"), async (c) => {
    const body = await readJson(c);
    if (!body.ok) return body.response;
    const parsed = ReportSchema.safeParse(body.value);
    if (!parsed.success) return problem(c, 400, "invalid report", { problems: zodErrors(parsed.error) });
    return c.json(await deps.plane(c.env).report(parsed.data.pop, parsed.data.events, parsed.data.metrics));
  });

  return app;
}
