/**
 * The control API (Hono, JSON). Each route is declared in control/routes.ts;
 * here it gets its handler, and from its declaration its authentication
 * (Hono's bearer-auth with our token store), body limit (Hono's body-limit)
 * and validation (Hono's validator with the route's zod schema). Errors take
 * the route's shape: Outpost's problem object, or Cloudflare's envelope
 * under /client/v4. No platform imports, so Node tests can call it with
 * app.request().
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { fieldProblems } from "../common/zod-issues";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import type { z } from "zod";
import { configFromText, type OutpostConfig } from "../common/config";
import { grants, tokenStoreFor, type TokenStore, type TokenGrant } from "../common/auth";
import { cloudflareError, findZone, listZones, zoneOf, type CloudflareErrorStatus } from "./cloudflare-api";
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from "./dashboard/page";
import { renderMetrics } from "./metrics";
import { catchUpThroughColo } from "./colo-catch-up";
import { openApiDocument } from "./openapi";
import { parsePurgeRequest, type Problem } from "./purge-request";
import { RateLimiter } from "../common/rate-limit";
import { MAX_BODY_BYTES, ROUTES, type ErrorShape, type RouteSpec } from "./routes";
import type { ControlPlaneRpc } from "./rpc";
import { relayFor, type RelayName } from "./relay-placement";
import type { HeldConfigText } from "./relay";
import type { Report } from "../common/wire";
import { parseSettings } from "../common/settings";
import { shardNamed, type ShieldAddress } from "../common/shield/placement";
import { shieldUnavailable } from "../common/shield/protocol";

export interface ControlBindings {
  OUTPOST_CONFIG: string;
  CONTROL_TOKENS?: string;
  POP_TOKEN?: string;
  CONTROL_RATE_LIMIT_PER_MINUTE?: string;
}

export interface ControlDeps {
  /** The control plane for this request's environment. */
  plane: (env: ControlBindings) => ControlPlaneRpc;
  /** SHIELD_ROUTE's handler: a POP's miss on its way to a shield shard (edge/shield/route.ts). */
  shieldRoute?: (request: Request, env: ControlBindings, region: string, shard: string) => Promise<Response>;
  /** A shield shard's stub (a Durable Object on Cloudflare), for its fault switch; undefined without a SHIELD binding. */
  shield?: (env: ControlBindings, address: ShieldAddress) => { fetch(input: string, init?: RequestInit): Promise<Response> } | undefined;
  /** The colo's Cache API (caches.default on Cloudflare), shared by its isolates; undefined where there is none. */
  coloCache?: () => Cache | undefined;
  /** The regional relay named `name` (control/relay-object.ts); undefined without a RELAY binding (syncs go to the plane). */
  relay?: (env: ControlBindings, name: RelayName) => RelayStub | undefined;
}

/** What the control API asks of a regional relay. */
export interface RelayStub {
  /** An isolate's sync (a RelaySyncCall as JSON): answered with a stream of answers, one JSON line each. */
  fetch(input: string, init: RequestInit): Promise<Response>;
  report(relay: string, report: Report): Promise<void>;
  catchUp(relay: string): Promise<Uint8Array<ArrayBuffer>>;
  config(relay: string): Promise<HeldConfigText>;
}

type AppEnv = { Bindings: ControlBindings; Variables: { grant: TokenGrant; body: unknown; query: unknown } };
type AppContext = Context<AppEnv>;
type ErrorStatus = 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500 | 503;

/** An error answer in the route's shape; `extra` (Outpost's shape only) adds fields such as `problems`. */
function refuse(c: AppContext, shape: ErrorShape, status: ErrorStatus, message: string, extra: Record<string, unknown> = {}): Response {
  if (shape === "cloudflare") {
    const body = cloudflareError(status as CloudflareErrorStatus, message);
    const problems = extra.problems as Problem[] | undefined;
    if (problems) body.errors.push(...problems.map((p) => ({ code: body.errors[0].code, message: `${p.field}: ${p.message}` })));
    return c.json(body, status);
  }
  return c.json({ error: message, status, ...extra }, status);
}

/** How long this isolate reuses the control plane's answer of which configuration runs. */
const CONFIG_MEMO_MS = 2000;
let configMemo: { at: number; config: OutpostConfig } | undefined;

/** The text of the configuration POPs run: the control plane's held one, else the variable. */
function runningConfigText(held: { text?: string }, env: ControlBindings): string {
  return held.text ?? env.OUTPOST_CONFIG;
}

/** The configuration POPs run (asked at most every CONFIG_MEMO_MS). */
async function configOf(deps: ControlDeps, c: AppContext): Promise<OutpostConfig> {
  if (configMemo && Date.now() - configMemo.at < CONFIG_MEMO_MS) return configMemo.config;
  const held = await planeOf(deps, c).configuration();
  const config = configFromText(runningConfigText(held, c.env));
  configMemo = { at: Date.now(), config };
  return config;
}

function tokensOf(env: ControlBindings): TokenStore {
  return tokenStoreFor(env.CONTROL_TOKENS, env.POP_TOKEN);
}

let limiter: { perMinute: number; limiter: RateLimiter } | undefined;
function limiterOf(env: ControlBindings): RateLimiter {
  const perMinute = parseSettings(env).CONTROL_RATE_LIMIT_PER_MINUTE;
  if (!limiter || limiter.perMinute !== perMinute) limiter = { perMinute, limiter: new RateLimiter(perMinute) };
  return limiter.limiter;
}

/**
 * Hono's bearer-auth, verifying against our token store. A failure is
 * answered in the route's shape, and costs the client address: guessing
 * tokens is limited per address, as using them is per token.
 */
function authenticate(shape: ErrorShape): MiddlewareHandler<AppEnv> {
  const failed = (status: 400 | 401, message: string) => (c: AppContext) => {
    const address = c.req.header("cf-connecting-ip") ?? "unknown";
    const verdict = limiterOf(c.env).take(`failed-auth:${address}`, Date.now());
    if (!verdict.ok) {
      c.header("retry-after", String(verdict.retryAfterSeconds));
      return refuse(c, shape, 429, "too many failed authentications from this address", { retryAfterSeconds: verdict.retryAfterSeconds });
    }
    return refuse(c, shape, status, message);
  };
  return bearerAuth({
    realm: "outpost",
    verifyToken: (token, c) => {
      const grant = tokensOf(c.env as ControlBindings).authenticate(`Bearer ${token}`);
      if (grant) c.set("grant", grant);
      return grant !== undefined;
    },
    noAuthenticationHeader: { message: failed(401, "missing or invalid bearer token") },
    invalidAuthenticationHeader: { message: failed(400, "the Authorization header is not a bearer token") },
    invalidToken: { message: failed(401, "missing or invalid bearer token") },
  });
}

/** The route's scope, then its rate (POPs sync several times a second by design; people and scripts are limited per token). */
function authorize(spec: RouteSpec): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const grant = c.get("grant");
    if (!grants(grant, spec.scope!)) return refuse(c, spec.errors, 403, `token lacks the "${spec.scope}" scope`);
    if (spec.scope !== "pop") {
      const verdict = limiterOf(c.env).take(grant.name, Date.now());
      if (!verdict.ok) {
        c.header("retry-after", String(verdict.retryAfterSeconds));
        return refuse(c, spec.errors, 429, "rate limit exceeded for this token", { retryAfterSeconds: verdict.retryAfterSeconds });
      }
    }
    await next();
  };
}

/** A JSON body: Content-Type first (415), then Hono's body limit (413), then the route's schema (400, naming each field). */
function jsonBody(spec: RouteSpec): MiddlewareHandler<AppEnv>[] {
  const contentType: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) return refuse(c, spec.errors, 415, "content-type must be application/json");
    await next();
  };
  const maxSize = spec.maxBodyBytes ?? MAX_BODY_BYTES;
  const limit = bodyLimit({ maxSize, onError: (c) => refuse(c as AppContext, spec.errors, 413, `body larger than ${maxSize} bytes`) });
  const validate = validator("json", (value, c) => {
    const parsed = spec.body!.safeParse(value);
    if (!parsed.success) return refuse(c as AppContext, spec.errors, 400, "invalid body", { problems: fieldProblems(parsed.error, "(body)") });
    (c as AppContext).set("body", parsed.data);
    return parsed.data as Record<string, unknown>;
  });
  return [contentType, limit as MiddlewareHandler<AppEnv>, validate as unknown as MiddlewareHandler<AppEnv>];
}

function queryParams(spec: RouteSpec): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const parsed = spec.query!.safeParse(c.req.query());
    if (!parsed.success) return refuse(c, spec.errors, 400, "invalid query", { problems: fieldProblems(parsed.error, "(body)") });
    c.set("query", parsed.data);
    await next();
  };
}

type Handler = (c: AppContext) => Response | Promise<Response>;

/** Registers a declared route: its middleware comes from its declaration. */
function register(app: Hono<AppEnv>, spec: RouteSpec, handler: Handler): void {
  const chain: MiddlewareHandler<AppEnv>[] = [];
  if (spec.scope) chain.push(authenticate(spec.errors), authorize(spec));
  if (spec.query) chain.push(queryParams(spec));
  if (spec.body) chain.push(...jsonBody(spec));
  const on = app.on.bind(app) as (method: string, path: string, ...handlers: (MiddlewareHandler<AppEnv> | Handler)[]) => void;
  on(spec.method === "all" ? "ALL" : spec.method.toUpperCase(), spec.path, ...chain, handler);
}

/** The body and query as the route's schemas parsed them. */
const bodyOf = <S extends z.ZodType>(c: AppContext, _schema: S) => c.get("body") as z.output<S>;
const queryOf = <S extends z.ZodType>(c: AppContext, _schema: S) => c.get("query") as z.output<S>;

function purgeAccepted(id: string) {
  return { success: true, errors: [], messages: [], result: { id } };
}

type App = Hono<AppEnv>;
const planeOf = (deps: ControlDeps, c: AppContext) => deps.plane(c.env);
const newPurgeId = () => crypto.randomUUID().replace(/-/g, "");

/** Errors in the route's shape: Hono's own refusals, our bugs (never their message), unknown paths. */
function handleErrors(app: App): void {
  const shapeOf = (c: AppContext): ErrorShape => (c.req.path.startsWith("/client/v4/") ? "cloudflare" : "outpost");
  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      // Hono's middleware refusals (a body that is not JSON), in the route's shape.
      if (err.res) return err.res;
      return refuse(c, shapeOf(c), err.status === 400 ? 400 : 500, err.status === 400 ? "body is not valid JSON" : err.message);
    }
    console.error(`outpost control: ${err.message}`);
    return refuse(c, shapeOf(c), 500, "internal error");
  });
  app.notFound((c) =>
    shapeOf(c) === "cloudflare" ? refuse(c, "cloudflare", 404, `No route for ${c.req.path}`) : refuse(c, "outpost", 404, "no such endpoint", { path: c.req.path }),
  );
}

/** Purges, origins, health, POPs, metrics: Outpost's own API. */
function registerOperatorRoutes(app: App, deps: ControlDeps): void {
  register(app, ROUTES.healthz, (c) => c.json({ ok: true }));
  register(app, ROUTES.openapi, (c) => c.json(openApiDocument()));
  register(app, ROUTES.purge, async (c) => {
    const request = parsePurgeRequest(bodyOf(c, ROUTES.purge.body), await configOf(deps, c));
    if (!request.ok) return c.json({ success: false, errors: request.problems, messages: [], result: null, error: "invalid purge", status: 400 }, 400);
    const rule = await planeOf(deps, c).purge(request.targets, request.soft, newPurgeId());
    return c.json({
      success: true,
      errors: [],
      messages: [],
      result: { id: rule.id, seq: rule.seq, soft: rule.soft, targets: rule.targets.length, at: new Date(rule.at).toISOString() },
    });
  });
  register(app, ROUTES.purgeStatus, async (c) => {
    const status = await planeOf(deps, c).purgeStatus(c.req.param("id") ?? "");
    if (!status) return refuse(c, "outpost", 404, "no such purge (or older than the retention)");
    return c.json(status);
  });
  register(app, ROUTES.origins, async (c) => {
    const overrides = await planeOf(deps, c).overrides();
    return c.json({ origins: (await configOf(deps, c)).origins.map((o) => ({ ...o, ...overrides[o.id] })) });
  });
  register(app, ROUTES.patchOrigin, async (c) => {
    const id = c.req.param("id") ?? "";
    if (!(await configOf(deps, c)).origins.some((o) => o.id === id)) return refuse(c, "outpost", 404, `no origin "${id}"`);
    return c.json({ id, ...(await planeOf(deps, c).patchOrigin(id, bodyOf(c, ROUTES.patchOrigin.body))) });
  });
  register(app, ROUTES.health, async (c) => c.json(await planeOf(deps, c).health()));
  register(app, ROUTES.pops, async (c) => {
    const pops = await planeOf(deps, c).pops();
    return c.json({
      pops: pops.map((p) => ({
        name: p.name,
        isolates: p.isolates,
        mode: p.mode ?? "poll",
        lastSyncAt: p.lastSyncAt,
        syncs: p.syncs ?? 0,
        reports: p.reports ?? 0,
        versionApplied: p.versionApplied,
        purgeSeqApplied: p.purgeSeqApplied,
        lastPurgeLagMs: p.lastPurgeLagMs,
      })),
    });
  });
  register(app, ROUTES.metrics, async (c) => c.text(renderMetrics(await planeOf(deps, c).metrics()), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
}

/** The dashboard: a page with no data in it (anyone may load it); its script reads /v1/dashboard with a read token. */
function registerDashboardRoutes(app: App, deps: ControlDeps): void {
  const pageHeaders = (type: string) => ({
    "content-type": type,
    "content-security-policy": DASHBOARD_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  });
  register(app, ROUTES.dashboardPage, (c) => c.body(DASHBOARD_HTML, 200, pageHeaders("text/html; charset=utf-8")));
  register(app, ROUTES.dashboardScript, (c) => c.body(DASHBOARD_JS, 200, pageHeaders("text/javascript; charset=utf-8")));
  register(app, ROUTES.dashboardStyles, (c) => c.body(DASHBOARD_CSS, 200, pageHeaders("text/css; charset=utf-8")));
  register(app, ROUTES.dashboardData, async (c) => c.json(await planeOf(deps, c).dashboard(), 200, { "cache-control": "no-store" }));
}

/** Cloudflare's API, for tooling written against it. */
function registerCloudflareRoutes(app: App, deps: ControlDeps): void {
  register(app, ROUTES.zones, async (c) => c.json(listZones(await configOf(deps, c), queryOf(c, ROUTES.zones.query))));
  register(app, ROUTES.zone, async (c) => {
    const site = findZone(await configOf(deps, c), c.req.param("zone_id") ?? "");
    if (!site) return refuse(c, "cloudflare", 404, `Could not route to /zones/${c.req.param("zone_id")}, perhaps your object identifier is invalid?`);
    return c.json({ success: true, errors: [], messages: [], result: zoneOf(site) });
  });
  register(app, ROUTES.zonePurge, async (c) => {
    const site = findZone(await configOf(deps, c), c.req.param("zone_id") ?? "");
    if (!site) return refuse(c, "cloudflare", 404, `Could not route to /zones/${c.req.param("zone_id")}/purge_cache, perhaps your object identifier is invalid?`);
    const request = parsePurgeRequest(bodyOf(c, ROUTES.zonePurge.body), await configOf(deps, c), site);
    if (!request.ok) return refuse(c, "cloudflare", 400, "invalid purge request", { problems: request.problems });
    const rule = await planeOf(deps, c).purge(request.targets, request.soft, newPurgeId());
    return c.json(purgeAccepted(rule.id));
  });
}

/** The relay for a POP's region, when the deployment has relays. */
function relayOf(deps: ControlDeps, c: AppContext, pop: string): { name: RelayName; stub: RelayStub } | undefined {
  const name = relayFor(pop);
  const stub = deps.relay?.(c.env, name);
  return stub ? { name, stub } : undefined;
}

/** Between Outpost's own parts: POPs' syncs and reports, and the shield's route and fault switch. */
function registerInternalRoutes(app: App, deps: ControlDeps): void {
  register(app, ROUTES.snapshot, async (c) => {
    const { pop, have } = queryOf(c, ROUTES.snapshot.query);
    return c.json(await planeOf(deps, c).snapshot(pop, have));
  });
  // A POP's sync and reports go to its region's relay when there is one (control/relay.ts).
  register(app, ROUTES.sync, async (c) => {
    const request = bodyOf(c, ROUTES.sync.body);
    const relay = relayOf(deps, c, request.pop);
    if (relay) return relay.stub.fetch("https://relay.outpost.internal/sync", { method: "POST", body: JSON.stringify({ relay: relay.name, request }) });
    const { wait, ...report } = request;
    return c.json(await planeOf(deps, c).sync(report, wait));
  });
  register(app, ROUTES.reports, async (c) => {
    const report = bodyOf(c, ROUTES.reports.body);
    const relay = relayOf(deps, c, report.pop);
    if (!relay) return c.json(await planeOf(deps, c).report(report));
    await relay.stub.report(relay.name, report);
    return c.json({ relayed: relay.name });
  });
  register(app, ROUTES.config, async (c) => {
    const held = await planeOf(deps, c).configuration();
    return c.json({ version: held.version, source: held.text ? "control plane" : "variable", config: JSON.parse(runningConfigText(held, c.env)) as Record<string, unknown> });
  });
  register(app, ROUTES.putConfig, async (c) => {
    // Validated against the schema already; what is held is what the operator wrote, not the defaults filled in.
    const answer = await planeOf(deps, c).putConfiguration((await c.req.json()) as Record<string, unknown>);
    configMemo = undefined;
    return c.json(answer);
  });
  register(app, ROUTES.popConfig, async (c) => {
    const { pop } = queryOf(c, ROUTES.popConfig.query);
    const relay = pop ? relayOf(deps, c, pop) : undefined;
    return c.json(relay ? await relay.stub.config(relay.name) : await planeOf(deps, c).configuration());
  });
  register(app, ROUTES.popCatchUp, async (c) => {
    const { epoch, after, pop } = queryOf(c, ROUTES.popCatchUp.query);
    // Without the isolate's epoch and position, no colo's copy may serve it: straight from the object.
    const cache = epoch !== undefined && after !== undefined ? deps.coloCache?.() : undefined;
    const request = { epoch: epoch ?? "", after: after ?? 0, catchUpAfter: parseSettings(c.env).PURGE_CATCH_UP_AFTER };
    const relay = pop ? relayOf(deps, c, pop) : undefined;
    return catchUpThroughColo(cache, request, () => (relay ? relay.stub.catchUp(relay.name) : planeOf(deps, c).catchUp()));
  });
  register(app, ROUTES.invalidations, async (c) => c.json(await planeOf(deps, c).invalidate(bodyOf(c, ROUTES.invalidations.body))));
  // The shield's own route (edge/shield/route.ts, wired in by the composition root).
  register(app, ROUTES.shield, (c) =>
    deps.shieldRoute ? deps.shieldRoute(c.req.raw, c.env, c.req.param("region") ?? "", c.req.param("shard") ?? "") : shieldUnavailable("no shield route"),
  );
  register(app, ROUTES.shieldFault, async (c) => {
    const named = shardNamed(c.req.param("region") ?? "", c.req.param("shard") ?? "", (await configOf(deps, c)).shield.shardsPerRegion);
    if ("problem" in named) return refuse(c, "outpost", 404, named.problem);
    const stub = deps.shield?.(c.env, named.address);
    if (!stub) return refuse(c, "outpost", 404, "no SHIELD binding");
    const answer = await stub.fetch("https://shield/__fault", { method: "POST", body: JSON.stringify(bodyOf(c, ROUTES.shieldFault.body)) });
    return c.json({ shield: named.address.name, ...((await answer.json()) as object) });
  });
}

export function createControlApp(deps: ControlDeps): App {
  const app: App = new Hono<AppEnv>();
  handleErrors(app);
  registerOperatorRoutes(app, deps);
  registerDashboardRoutes(app, deps);
  registerCloudflareRoutes(app, deps);
  registerInternalRoutes(app, deps);
  return app;
}
