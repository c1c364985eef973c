/**
 * The edge pipeline, as a cache's state machine:
 *
 *   recv ─▶ key ─▶ lookup ─▶ hit ─────────────────────────────▶ deliver
 *                          ├▶ stale ─▶ revalidate (fetch) ─▶ store ─▶ deliver
 *                          └▶ miss ──▶ fill (fetch, collapsed) ─▶ store ─▶ deliver
 *   recv ─▶ pass (unsafe methods) ─▶ fetch ─▶ invalidate ─▶ deliver
 *
 * Each state is a function named after it (key is computed in recv, as
 * primaryKey, and extended to a variant key in lookup). HTTP decisions live in
 * edge/http (pure); this file wires them to the tiers and the origins
 * (forward.ts) and to compression (compress/variants.ts).
 */
import { ClientBodyError, countBytes, guardClientBody, OriginBodyError, readBounded, readUpload, teeInStep } from "./body";
import { variantKey as computeVariantKey, primaryKey, varyFields } from "../common/cache-key";
import { knownSize, retentionSeconds, UNKNOWN_SIZE, type EntryMeta, type StoredRecord, type VaryManifest } from "./cache/entry";
import { buildEntryMeta, freshenWithNotModified, updatedByNotModified } from "./cache/record";
import { deliver, type DeliverOptions, type Representation } from "./deliver";
import { cacheResultOf } from "./metrics/cache-result";
import type { Env } from "../common/env";
import { parseCacheControl, type CacheDirectives } from "./http/cache-control";
import type { CacheStatusEntry, ForwardReason } from "./http/cache-status";
import { reuseDecision, staleIfErrorAllows } from "./http/reuse";
import { currentAge, hasExplicitFreshness } from "./http/freshness";
import { CACHEABLE_METHODS, SAFE_METHODS } from "./http/methods";
import { headersFrom } from "./http/headers";
import { storeDecision } from "./http/storable";
import { withVaryAcceptEncoding } from "./compress/policy";
import { chooseEncoding, encodedVariant } from "./compress/variants";
import { decodable, DecodeLimitError, decodeStream, limitDecoded, originCoding } from "./compress/decode";
import { forward, forwardHeaders, invalidateAtShields } from "./forward";
import { governingDirectives } from "./http/targeted";
import { popFor, type FillOutcome, type Pop } from "./pop";
import type { OriginFailure, OriginFetchResult } from "./routing/origin-fetch";
import { budgetLeft, cancelBody, safePut, type Found, type Transaction } from "./transaction";
import { errorResponse } from "./errors";
import { waitAtMost } from "./wait";
import { statusResponse, STATUS_PATH } from "./status";

type LookupResult = { found: Found } | { found: undefined; reason: "uri-miss" | "vary-miss" };


/** A shield shard runs the same pipeline with its own Pop and its region's location. */
export interface UpperTier {
  pop: Pop;
  cf: IncomingRequestCfProperties;
  /** What the POP left of its budget, as a deadline here (see SHIELD_FIELDS.budget). */
  deadline?: number;
}

export function handleEdgeRequest(request: Request, env: Env, ctx: ExecutionContext, upper?: UpperTier): Response | Promise<Response> {
  const cf = upper?.cf ?? (request.cf as IncomingRequestCfProperties | undefined);
  let pop: Pop;
  try {
    pop = upper?.pop ?? popFor(env, cf);
  } catch (err) {
    // A broken OUTPOST_CONFIG is the operator's error: the log says what is wrong, the client only that it is.
    console.error(`outpost: ${(err as Error).message}`);
    const response = errorResponse(503, "this CDN node is misconfigured");
    response.headers.set("retry-after", "30");
    response.headers.set("cache-status", `Outpost; detail="config-invalid"`);
    return response;
  }
  pop.counters.requests++;
  const coldStart = pop.snapshots.forRequest((p) => ctx.waitUntil(p), Date.now());
  if (coldStart) return coldStart.then(() => recv(pop, request, ctx, cf, upper?.deadline));
  return recv(pop, request, ctx, cf, upper?.deadline);
}

// ── recv: which site, and is this request for the cache at all? ──────────────

function recv(pop: Pop, request: Request, ctx: ExecutionContext, cf: IncomingRequestCfProperties | undefined, deadline?: number): Response | Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === STATUS_PATH) return statusResponse(pop, request);
  const site = pop.siteFor(url.hostname);
  if (!site) {
    // Never an open proxy: only configured hosts are fetched, from configured origins.
    const response = errorResponse(421, "unknown host", { host: url.hostname, popName: pop.name });
    response.headers.set("cache-status", `${pop.name}; detail="unknown-host"`);
    pop.recordResponse("error", response.status, 0);
    return response;
  }
  const honored = site.honorRequestDirectives;
  const requestDirectives = requestDirectivesFor(request.headers.get("cache-control"), honored);
  const startedAt = Date.now();
  const cacheable = CACHEABLE_METHODS.has(request.method);
  const tx: Transaction = {
    pop,
    request,
    url,
    site,
    ctx,
    primaryKey: primaryKey(url, pop.config.cache.key),
    requestDirectives,
    pragmaNoCache: honored && /(^|,)\s*no-cache\s*(,|$)/i.test(request.headers.get("pragma") ?? ""),
    cf,
    timing: { startedAt },
    deadline: cacheable ? Math.min(deadline ?? Infinity, startedAt + pop.config.originFetch.deadlineMs) : Infinity,
  };
  if (!cacheable) return pass(tx);
  // A fresh entry in the isolate's memory is answered without a single await.
  const inMemory = lookupMemory(tx);
  if (inMemory) return hitOrStale(tx, inMemory);
  return lookup(tx).then((result) => {
    if (result.found) return hitOrStale(tx, result.found);
    pop.counters.misses++;
    return miss(tx, result.reason);
  });
}

/**
 * The client's request directives as this site takes them. Unless the site
 * honors them, the ones that would force a trip to the origin (or keep a fill
 * from being stored for everyone) are set aside; only-if-cached and max-stale
 * never cost the origin anything and always count.
 */
function requestDirectivesFor(value: string | null, honored: boolean): CacheDirectives {
  const directives = parseCacheControl(value);
  if (honored || value === null) return directives;
  return { ...directives, noCache: false, maxAge: undefined, minFresh: undefined, noStore: false };
}

// ── lookup: the in-isolate tier, then the POP's Cache API ─────────────────────

async function readTier(pop: Pop, key: string): Promise<{ record: StoredRecord; body: Found["body"]; tier: Found["tier"]; storedAt: number } | undefined> {
  const inMemory = pop.memory.get(key);
  if (inMemory) return { record: inMemory.record, body: inMemory.body ?? null, tier: "memory", storedAt: inMemory.storedAt };
  const stored = await pop.store.get(key);
  if (!stored) return undefined;
  if (stored.record.kind === "entry" && knownSize(stored.record.meta) === undefined) {
    // Written before its size was known and never confirmed whole: not to be trusted.
    await cancelBody(stored.body);
    return undefined;
  }
  let body: Found["body"] = stored.body;
  // Promoted by its real size: an entry whose size is not known yet stays where it is.
  const size = stored.record.kind === "entry" ? knownSize(stored.record.meta) : 0;
  if (size !== undefined && size <= pop.config.cache.memoryEntryMaxBytes) {
    // Promote to the in-isolate tier: the next hit costs nothing.
    const bytes = stored.body instanceof Uint8Array ? stored.body : stored.body ? new Uint8Array(await new Response(stored.body).arrayBuffer()) : new Uint8Array(0);
    if (stored.record.kind === "entry" && bytes.byteLength !== size) {
      // A body shorter (or longer) than its record says was cut off on its way in.
      await pop.store.delete(key);
      return undefined;
    }
    body = bytes;
    const ttl = stored.record.kind === "entry" ? retentionSeconds(stored.record.meta, pop.config.cache.staleRetentionSeconds, pop.config.cache.maxRetentionSeconds) : pop.config.cache.staleRetentionSeconds;
    pop.memory.set(key, { record: stored.record, body: stored.record.kind === "entry" ? bytes : undefined, storedAt: stored.storedAt }, ttl);
  }
  return { record: stored.record, body, tier: "cache-api", storedAt: stored.storedAt };
}

/** The in-isolate tier alone, synchronously: the common hit. */
function lookupMemory(tx: Transaction): Found | undefined {
  const primary = tx.pop.memory.get(tx.primaryKey);
  if (!primary) return undefined;
  if (primary.record.kind === "entry") return { key: tx.primaryKey, meta: primary.record.meta, body: primary.body ?? null, tier: "memory" };
  const manifest = primary.record.manifest;
  tx.manifest = manifest;
  const key = computeVariantKey(tx.primaryKey, manifest.vary, tx.request.headers, tx.pop.config.cache.vary);
  const variant = tx.pop.memory.get(key);
  if (!variant || variant.record.kind !== "entry" || variant.storedAt < manifest.since) return undefined;
  return { key, meta: variant.record.meta, body: variant.body ?? null, tier: "memory" };
}

async function lookup(tx: Transaction): Promise<LookupResult> {
  const primary = await readTier(tx.pop, tx.primaryKey);
  if (!primary) return { found: undefined, reason: "uri-miss" };
  if (primary.record.kind === "entry") {
    return { found: { key: tx.primaryKey, meta: primary.record.meta, body: primary.body, tier: primary.tier } };
  }
  const manifest = primary.record.manifest;
  tx.manifest = manifest;
  const key = computeVariantKey(tx.primaryKey, manifest.vary, tx.request.headers, tx.pop.config.cache.vary);
  const variant = await readTier(tx.pop, key);
  if (!variant || variant.record.kind !== "entry" || variant.storedAt < manifest.since) {
    await cancelBody(variant?.body ?? null);
    return { found: undefined, reason: "vary-miss" };
  }
  return { found: { key, meta: variant.record.meta, body: variant.body, tier: variant.tier } };
}

// ── hit / stale: may the stored response be used, and how? ───────────────────

function hitOrStale(tx: Transaction, found: Found): Response | Promise<Response> {
  const now = Date.now();
  const purge = tx.pop.purges.verdict(found.meta.key, found.meta.tags, found.meta.requestTime);
  if (purge.kind === "hard") {
    // Purged after it was fetched: gone, from this tier now and for good.
    void cancelBody(found.body);
    tx.pop.memory.delete(found.key);
    tx.pop.counters.misses++;
    return miss(tx, "uri-miss");
  }
  if (purge.kind === "soft") {
    // Soft purge: the entry counts as stale from the purge on, and the stale rules decide.
    const ageAtPurge = found.meta.initialAge + (purge.at - found.meta.responseTime) / 1000;
    found = { ...found, meta: { ...found.meta, freshness: Math.min(found.meta.freshness, Math.max(0, Math.floor(ageAtPurge))) } };
  }
  const decision = reuseDecision(found.meta, tx.requestDirectives, tx.pragmaNoCache, now);
  if (decision.kind === "fresh") {
    tx.pop.counters.hits++;
    return deliverStored(tx, found, { cache: tx.pop.name, hit: true, ttl: decision.ttl }, decision.age, false);
  }
  if (decision.kind === "stale-serve") {
    tx.pop.counters.hits++;
    tx.pop.countStale("while-revalidate");
    if (decision.revalidate) revalidateInBackground(tx, found);
    return deliverStored(tx, found, { cache: tx.pop.name, hit: true, ttl: decision.ttl, detail: "stale-while-revalidate" }, decision.age, false);
  }
  if (tx.requestDirectives.onlyIfCached) return gatewayTimeoutOnlyIfCached(tx, found);
  return revalidateCollapsed(tx, found, decision.reason);
}

/**
 * Concurrent revalidations of one stored entry go to the origin once; the
 * others wait for it and take what it brought into the memory tier (the origin
 * validated it a moment ago). Without this, clients allowed to send no-cache
 * could still turn one hot object into as many origin requests as clients.
 */
async function revalidateCollapsed(tx: Transaction, found: Found, reason: ForwardReason): Promise<Response> {
  const leader = tx.pop.revalidations.get(found.key);
  if (leader) {
    await waitAtMost(leader, budgetLeft(tx, tx.pop.config.originFetch.collapsedWaitMs), undefined);
    const refreshed = lookupMemory(tx);
    if (refreshed && refreshed.meta.responseTime > found.meta.responseTime) {
      void cancelBody(found.body);
      tx.pop.counters.collapsed++;
      const age = currentAge(refreshed.meta.initialAge, refreshed.meta.responseTime, Date.now());
      return deliverStored(tx, refreshed, { cache: tx.pop.name, fwd: reason, fwdStatus: refreshed.meta.status, ttl: refreshed.meta.freshness - age, collapsed: true }, age, true);
    }
    return revalidate(tx, found, reason);
  }
  const work = revalidate(tx, found, reason);
  const settled = work.then(() => undefined, () => undefined);
  tx.pop.revalidations.set(found.key, settled);
  void settled.then(() => tx.pop.revalidations.delete(found.key));
  return work;
}

function revalidateInBackground(tx: Transaction, found: Found): void {
  if (tx.pop.revalidating.has(found.key)) return;
  tx.pop.revalidating.add(found.key);
  const work = (async () => {
    try {
      const stored = found.tier === "memory" ? found : { ...found, body: null };
      const response = await revalidate(tx, stored, "stale", true);
      await cancelBody(response.body);
    } finally {
      tx.pop.revalidating.delete(found.key);
    }
  })();
  tx.ctx.waitUntil(work.catch(() => undefined));
}

function gatewayTimeoutOnlyIfCached(tx: Transaction, found: Found): Response {
  void cancelBody(found.body);
  return withCacheStatus(errorResponse(504, "only-if-cached: no fresh stored response"), { cache: tx.pop.name, fwd: "miss" }, tx);
}

// ── revalidate: a conditional request for a stale (or no-cache) entry ────────

async function revalidate(tx: Transaction, found: Found, reason: ForwardReason, background = false): Promise<Response> {
  // With no healthy origin left, waiting out timeouts only delays the stale copy the client will get.
  // The cheap check first: ranking origins (and counting a panic route) only where stale may stand in.
  const before = Date.now();
  if (!background && staleIfErrorAllows(found.meta, tx.pop.config.cache.staleIfErrorSeconds, before) && tx.pop.candidates(tx.site, tx.cf, before).healthy === 0) {
    return serveStaleOnError(tx, found, undefined);
  }
  const headers = forwardHeaders(tx, true);
  const storedHeaders = headersFrom(found.meta.headers);
  const etag = storedHeaders.get("etag");
  const lastModified = storedHeaders.get("last-modified");
  if (etag) headers.set("if-none-match", etag);
  if (lastModified) headers.set("if-modified-since", lastModified);
  const result = await forward(tx, "GET", headers, null);
  const now = Date.now();

  if (!result.ok || result.response.status >= 500) {
    const failedStatus = result.ok ? result.response.status : failureStatus(result.failure);
    if (staleIfErrorAllows(found.meta, tx.pop.config.cache.staleIfErrorSeconds, now)) {
      if (result.ok) await cancelBody(result.response.body);
      return serveStaleOnError(tx, found, failedStatus);
    }
    await cancelBody(found.body);
    // The origin's own error passes through; no answer at all gets ours.
    if (!result.ok) return unreachableResponse(tx, result, reason);
    return storeAndDeliver(tx, result, reason).catch((err: unknown) => bodyFailedResponse(tx, err, reason));
  }

  const response = result.response;
  if (response.status === 304) {
    await cancelBody(response.body);
    const updated = updatedByNotModified(found.meta, response.headers);
    const judged = judgeForStoring(tx, found.meta.status, updated);
    if (!judged.store) return notStorableAfterUpdate(tx, found, updated, { reason, background, notStored: judged.reason });
    const meta = freshenWithNotModified(found.meta, updated, result.requestTime, result.responseTime);
    tx.ctx.waitUntil(refreshStored(tx, found, meta));
    const age = Math.floor(meta.initialAge);
    const entry: CacheStatusEntry = { cache: tx.pop.name, fwd: reason, fwdStatus: 304, ttl: meta.freshness - age, stored: true, detail: tx.shieldBypass, upstream: response.headers.get("cache-status") ?? undefined };
    if (background) return new Response(null);
    return deliverStored(tx, { ...found, meta }, entry, age, true);
  }
  // A full response replaces what we had, once its body has arrived whole.
  try {
    const replaced = await storeAndDeliver(tx, result, reason);
    await cancelBody(found.body);
    return replaced;
  } catch (err) {
    if (staleIfErrorAllows(found.meta, tx.pop.config.cache.staleIfErrorSeconds, Date.now())) {
      return serveStaleOnError(tx, found, err instanceof OriginBodyError && err.kind === "stalled" ? 504 : 502);
    }
    await cancelBody(found.body);
    return bodyFailedResponse(tx, err, reason);
  }
}

/** May the response with these fields be stored for everyone (RFC 9111 §3)? The one judgement for fills and updates alike. */
function judgeForStoring(tx: Transaction, status: number, headers: Headers) {
  return storeDecision({
    method: "GET",
    status,
    requestHeaders: tx.request.headers,
    requestDirectives: tx.requestDirectives,
    responseHeaders: headers,
    responseDirectives: governingDirectives(headers).directives,
  });
}

/** Reasons a response may not be stored that come from this client's request, not from what the origin said. */
const REQUEST_SIDE_REASONS = new Set(["authorization", "request-no-store"]);

/**
 * A 304 made the stored response one that may not be stored (private,
 * no-store, a cookie...). This client gets it as updated, every field
 * included; nobody else does. When it is the origin that changed its mind,
 * the stored copy goes: it no longer says what the origin says. When only this
 * request kept it from being stored (its Authorization), the copy stays as it was.
 */
async function notStorableAfterUpdate(
  tx: Transaction,
  found: Found,
  updated: Headers,
  how: { reason: ForwardReason; background: boolean; notStored: string },
): Promise<Response> {
  if (!REQUEST_SIDE_REASONS.has(how.notStored)) await invalidate(tx.pop, found.key);
  if (how.background) {
    await cancelBody(found.body);
    return new Response(null);
  }
  const status: CacheStatusEntry = { cache: tx.pop.name, fwd: how.reason, fwdStatus: 304, detail: tx.pop.config.debug ? `not-stored:${how.notStored}` : tx.shieldBypass };
  const rep: Representation = { status: found.meta.status, headers: updated, body: found.body, size: knownSize(found.meta) };
  return deliverTo(tx, rep, { cacheStatus: status, age: 0, evaluateRequest: true });
}

/** A stored copy standing in for an origin that failed (RFC 5861 stale-if-error). */
function serveStaleOnError(tx: Transaction, found: Found, failedStatus: number | undefined): Response | Promise<Response> {
  tx.pop.countStale("if-error");
  const age = currentAge(found.meta.initialAge, found.meta.responseTime, Date.now());
  return deliverStored(tx, found, { cache: tx.pop.name, fwd: "stale", fwdStatus: failedStatus, ttl: found.meta.freshness - age, detail: "stale-if-error" }, age, false);
}

/** Re-stores an entry freshened by a 304 in both tiers. */
async function refreshStored(tx: Transaction, found: Found, meta: EntryMeta): Promise<void> {
  const retention = retentionSeconds(meta, tx.pop.config.cache.staleRetentionSeconds, tx.pop.config.cache.maxRetentionSeconds);
  const now = Date.now();
  if (found.body instanceof Uint8Array) {
    if (found.body.byteLength <= tx.pop.config.cache.memoryEntryMaxBytes) {
      tx.pop.memory.set(found.key, { record: { kind: "entry", meta }, body: found.body, storedAt: now }, retention);
    }
    await safePut(tx, found.key, { kind: "entry", meta }, found.body, retention, now);
    return;
  }
  // A large body was streamed to the client: take it again from the Cache API.
  const again = await tx.pop.store.get(found.key);
  if (again?.body) await safePut(tx, found.key, { kind: "entry", meta }, again.body, retention, now);
}

// ── miss: fill from the origin, collapsing concurrent misses for one key ─────

async function miss(tx: Transaction, reason: "uri-miss" | "vary-miss"): Promise<Response> {
  if (tx.requestDirectives.onlyIfCached) {
    return withCacheStatus(errorResponse(504, "only-if-cached: nothing stored"), { cache: tx.pop.name, fwd: reason }, tx);
  }
  const leader = tx.pop.inflight.get(tx.primaryKey);
  if (leader) {
    const outcome = await waitAtMost(leader, budgetLeft(tx, tx.pop.config.originFetch.collapsedWaitMs), { kind: "not-shared" as const });
    if (outcome.kind === "shared" && sameVariant(tx, outcome)) {
      tx.pop.counters.collapsed++;
      const found: Found = { key: outcome.variantKey, meta: outcome.meta, body: outcome.body, tier: "memory" };
      const age = Math.floor(outcome.meta.initialAge + (Date.now() - outcome.meta.responseTime) / 1000);
      return deliverStored(tx, found, { cache: tx.pop.name, fwd: reason, fwdStatus: outcome.meta.status, ttl: outcome.meta.freshness - age, collapsed: true }, age, false);
    }
    // Not shareable: go forward on our own.
    return fill(tx, reason, undefined);
  }
  let settle!: (outcome: FillOutcome) => void;
  const promise = new Promise<FillOutcome>((resolve) => (settle = resolve));
  tx.pop.inflight.set(tx.primaryKey, promise);
  try {
    return await fill(tx, reason, settle);
  } finally {
    settle({ kind: "not-shared" }); // no-op when fill already settled
    tx.pop.inflight.delete(tx.primaryKey);
  }
}

function sameVariant(tx: Transaction, outcome: Extract<FillOutcome, { kind: "shared" }>): boolean {
  const fields = varyFields(headersFrom(outcome.meta.headers).get("vary")).filter((f) => f !== "accept-encoding");
  if (fields.length === 0) return true;
  return computeVariantKey(tx.primaryKey, fields, tx.request.headers, tx.pop.config.cache.vary) === outcome.variantKey;
}

async function fill(tx: Transaction, reason: ForwardReason, settle: ((o: FillOutcome) => void) | undefined): Promise<Response> {
  const result = await forward(tx, "GET", forwardHeaders(tx, true), null);
  if (!result.ok) return unreachableResponse(tx, result, reason);
  try {
    return await storeAndDeliver(tx, result, reason, settle);
  } catch {
    // The origin's answer stalled or broke off before the client got a byte (an origin
    // dying mid-response; forward's guard has counted it against the origin): go forward
    // once more, elsewhere if we can, as for a refused connection. A second failure is
    // the client's clear 5xx, never a throw.
    const again = await forward(tx, "GET", forwardHeaders(tx, true), null, result.originId);
    if (!again.ok) return unreachableResponse(tx, again, reason);
    try {
      return await storeAndDeliver(tx, again, reason, settle);
    } catch (second) {
      return bodyFailedResponse(tx, second, reason);
    }
  }
}

/** The client's answer when the origin's body failed and no stale copy may stand in: 504 stalled, 502 broken. */
function bodyFailedResponse(tx: Transaction, err: unknown, reason: ForwardReason): Response {
  const stalled = err instanceof OriginBodyError && err.kind === "stalled";
  const bomb = err instanceof DecodeLimitError;
  const status = stalled ? 504 : 502;
  const message = stalled ? "origin stopped sending the response" : bomb ? "origin response decodes to more than this CDN accepts" : "origin response broke off";
  const response = errorResponse(status, message);
  response.headers.set("retry-after", "5");
  response.headers.set("cache-control", "no-store");
  return withCacheStatus(response, { cache: tx.pop.name, fwd: reason, fwdStatus: status, detail: stalled ? "body-stalled" : bomb ? "decode-limit" : "body-broken" }, tx);
}

// ── pass: methods the cache does not serve; invalidate after unsafe ones ─────

/** Request bodies up to this size are buffered so that an idempotent request (PUT, DELETE) can be retried. */
const REPLAYABLE_BODY_BYTES = 64 * 1024;

async function pass(tx: Transaction): Promise<Response> {
  let body: ReadableStream<Uint8Array> | Uint8Array | null = tx.request.body && guardClientBody(tx.request.body, tx.pop.config.originFetch.uploadIdleTimeoutMs);
  const length = Number(tx.request.headers.get("content-length") ?? NaN);
  if (body && length <= REPLAYABLE_BODY_BYTES) {
    try {
      body = await readUpload(body);
    } catch (err) {
      return unreachableResponse(tx, { ok: false, failure: err instanceof ClientBodyError && err.kind === "idle" ? "client-timeout" : "client", attempts: [] }, "method");
    }
  }
  const result = await forward(tx, tx.request.method, forwardHeaders(tx, false), body);
  if (!result.ok) return unreachableResponse(tx, result, "method");
  const response = result.response;
  if (!SAFE_METHODS.has(tx.request.method) && response.status < 400) await invalidateAfterUnsafe(tx, response.headers);
  // A POST answer that names itself as the current representation of the target, with
  // explicit freshness, may answer later GETs (RFC 9110 §9.3.3, RFC 9111 §3).
  if (tx.request.method === "POST" && postAnswersGet(tx, response)) return storeAndDeliver(tx, result, "method");
  const rep: Representation = { status: response.status, headers: response.headers, body: response.body, size: undefined };
  return deliverTo(tx, rep, { cacheStatus: { cache: tx.pop.name, fwd: "method", fwdStatus: response.status }, evaluateRequest: false });
}

function postAnswersGet(tx: Transaction, response: Response): boolean {
  if (response.status !== 200 && response.status !== 203) return false;
  const location = response.headers.get("content-location");
  if (location === null) return false;
  let target: URL;
  try {
    target = new URL(location, tx.url);
  } catch {
    return false;
  }
  if (primaryKey(target, tx.pop.config.cache.key) !== tx.primaryKey) return false;
  return hasExplicitFreshness(response.headers, governingDirectives(response.headers).directives);
}

/** RFC 9111 §4.4: an unsafe request invalidates the target URI and same-origin Location / Content-Location. */
async function invalidateAfterUnsafe(tx: Transaction, headers: Headers): Promise<void> {
  const targets = new Map([[tx.primaryKey, tx.url]]);
  for (const field of ["location", "content-location"]) {
    const value = headers.get(field);
    if (!value) continue;
    let target: URL;
    try {
      target = new URL(value, tx.url);
    } catch {
      continue;
    }
    if (target.host === tx.url.host) targets.set(primaryKey(target, tx.pop.config.cache.key), target);
  }
  await Promise.all([...[...targets.keys()].map((key) => invalidate(tx.pop, key)), invalidateAtShields(tx, [...targets.values()])]);
}

/** Forgets an object: its entry, or its vary manifest (which orphans its variants). */
export async function invalidate(pop: Pop, key: string): Promise<void> {
  pop.memory.delete(key);
  await pop.store.delete(key);
}

// ── store: keep what may be kept, in the tiers it fits ───────────────────────

async function storeAndDeliver(
  tx: Transaction,
  result: Extract<OriginFetchResult, { ok: true }>,
  reason: ForwardReason,
  settle?: (o: FillOutcome) => void,
): Promise<Response> {
  const response = result.response;
  const cacheConfig = tx.pop.config.cache;
  const rep = originRepresentation(tx, response);
  const status: CacheStatusEntry = { cache: tx.pop.name, fwd: reason, fwdStatus: response.status, detail: tx.shieldBypass, upstream: response.headers.get("cache-status") ?? undefined };
  const originHeaders = rep.headers;
  const decision = judgeForStoring(tx, response.status, originHeaders);
  const tooLarge = rep.length !== undefined && rep.length > cacheConfig.maxObjectBytes;
  if (!decision.store || tooLarge) {
    if (tx.pop.config.debug) status.detail = tooLarge ? "too-large" : decision.store ? tx.shieldBypass : `not-stored:${decision.reason}`;
    const passed: Representation = { status: response.status, headers: originHeaders, body: rep.body, size: rep.length };
    return deliverTo(tx, passed, { cacheStatus: status, evaluateRequest: true, encoded: rep.opaque });
  }

  const fields = varyFields(originHeaders.get("vary"));
  // Origins are always asked for identity, so their Vary: Accept-Encoding selects nothing here;
  // our own encoded variants take its place.
  const keyFields = fields.filter((f) => f !== "accept-encoding");
  const key = keyFields.length > 0 ? computeVariantKey(tx.primaryKey, keyFields, tx.request.headers, tx.pop.config.cache.vary) : tx.primaryKey;
  // A stalled or broken body throws here, before the client has a byte: the caller decides.
  const body = await readBounded(rep.body, cacheConfig.memoryEntryMaxBytes, tx.deadline);
  if (body.kind === "complete" && body.bytes.byteLength > cacheConfig.maxObjectBytes) {
    const passed: Representation = { status: response.status, headers: originHeaders, body: body.bytes, size: body.bytes.byteLength };
    return deliverTo(tx, passed, { cacheStatus: status, evaluateRequest: true, encoded: rep.opaque });
  }
  const now = Date.now();
  // A streamed body without Content-Length has its size recorded once it has passed whole (storeStreamed).
  const size = body.kind === "complete" ? body.bytes.byteLength : (rep.length ?? UNKNOWN_SIZE);
  const meta = buildEntryMeta({
    key: tx.primaryKey,
    status: response.status,
    headers: originHeaders,
    requestTime: result.requestTime,
    responseTime: result.responseTime,
    size,
    originId: result.originId,
  });
  const retention = retentionSeconds(meta, cacheConfig.staleRetentionSeconds, cacheConfig.maxRetentionSeconds);
  const record: StoredRecord = { kind: "entry", meta };
  status.stored = true;
  status.ttl = meta.freshness - Math.floor(meta.initialAge);
  tx.pop.counters.stored++;
  if (keyFields.length > 0) storeVaryManifest(tx, keyFields, now);

  // Fields a qualified private="f" keeps from the store are still this client's: the origin answered it.
  const ownFields = privateFieldsOf(originHeaders);
  if (body.kind === "complete") {
    tx.pop.memory.set(key, { record, body: body.bytes, storedAt: now }, retention);
    tx.ctx.waitUntil(safePut(tx, key, record, body.bytes, retention, now));
    settle?.({ kind: "shared", variantKey: key, meta, body: body.bytes });
    return withOwnFields(deliverStored(tx, { key, meta, body: body.bytes, tier: "memory" }, status, meta.initialAge, true), ownFields);
  }
  // Large: one branch to the client, one into the Cache API, neither held in memory.
  // Paced by the slower branch: a slow client slows the store rather than being buffered for (see teeInStep).
  const [toClient, toCache] = teeInStep(body.stream);
  tx.ctx.waitUntil(storeStreamed(tx, key, meta, toCache, retention, now));
  const streamed: Representation = { status: response.status, headers: meta.headers, body: toClient, size: rep.length };
  return withOwnFields(deliverTo(tx, streamed, { cacheStatus: status, age: meta.initialAge, evaluateRequest: true, encoded: rep.opaque }), ownFields);
}

/** The fields of a response that its private="f" names (RFC 9111 §5.2.2.7), as the origin sent them. */
function privateFieldsOf(headers: Headers): [string, string][] {
  const { directives } = governingDirectives(headers);
  if (!Array.isArray(directives.private)) return [];
  const names = directives.private;
  return [...headers].filter(([name]) => names.includes(name));
}

/** An answer with fields only its own client may see added back. */
function withOwnFields(answer: Response | Promise<Response>, fields: readonly [string, string][]): Response | Promise<Response> {
  if (fields.length === 0) return answer;
  const add = (response: Response) => {
    for (const [name, value] of fields) response.headers.append(name, value);
    return response;
  };
  return answer instanceof Promise ? answer.then(add) : add(answer);
}

/** What the origin answered, as Outpost keeps it: identity bytes, behind the body guard. */
interface OriginRepresentation {
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** Content-Length, when the origin gave one we can trust. */
  length: number | undefined;
  /**
   * Still in a coding the origin applied that we cannot undo (neither the runtime's gzip/br nor
   * our deflate/zstd): stored and sent as the origin sent it, as caches must keep Content-Encoding.
   */
  opaque: boolean;
}

function originRepresentation(tx: Transaction, response: Response): OriginRepresentation {
  let headers = response.headers;
  // Already guarded by forward (idle timeout, health accounting).
  let body = response.body;
  const encoding = response.headers.get("content-encoding");
  const coding = originCoding(encoding);
  // The runtime's fetch decodes gzip and br by itself: what we hold is already the identity body.
  const runtimeDecoded = encoding !== null && coding === undefined && encoding.trim().toLowerCase() !== "identity";
  if (coding !== undefined && !decodable(coding)) {
    const declared = Number(headers.get("content-length") ?? NaN);
    return { headers, body, length: Number.isInteger(declared) && declared >= 0 ? declared : undefined, opaque: true };
  }
  if (runtimeDecoded || coding !== undefined) {
    const limits = { maxBytes: tx.pop.config.cache.maxObjectBytes, maxRatio: tx.pop.config.originFetch.maxDecodedRatio };
    const encodedLength = Number(headers.get("content-length") ?? NaN);
    headers = new Headers(response.headers);
    headers.delete("content-encoding");
    headers.delete("content-length");
    // The runtime's decoding is bounded the same way: by what came out against what went in, when the origin said.
    if (runtimeDecoded && body) body = limitDecoded(body, Number.isInteger(encodedLength) && encodedLength > 0 ? encodedLength : Infinity, limits);
    if (coding !== undefined && body) {
      body = decodeStream(coding, body, limits);
      // Not the bytes the origin's strong validator names any more (RFC 9110 §8.8.1).
      const etag = headers.get("etag");
      if (etag && !etag.startsWith("W/")) headers.set("etag", `W/${etag}`);
    }
  }
  const declared = Number(headers.get("content-length") ?? NaN);
  return { headers, body, length: Number.isInteger(declared) && declared >= 0 ? declared : undefined, opaque: false };
}

/**
 * Stores a body too large for memory as it streams to the client. Past
 * maxObjectBytes the store fails and nothing partial is kept. Without a
 * Content-Length the Cache API cannot tell the size later, so once the whole
 * body has passed the entry is written again with its size in the record.
 */
async function storeStreamed(tx: Transaction, key: string, meta: EntryMeta, body: ReadableStream<Uint8Array>, retention: number, now: number): Promise<void> {
  let total: number | undefined;
  const counted = countBytes(body, tx.pop.config.cache.maxObjectBytes, (n) => (total = n));
  const stored = await safePut(tx, key, { kind: "entry", meta }, counted, retention, now);
  if (!stored || meta.size !== UNKNOWN_SIZE || total === undefined) return;
  const again = await tx.pop.store.get(key);
  if (!again || again.storedAt !== now) return void cancelBody(again?.body ?? null);
  await safePut(tx, key, { kind: "entry", meta: { ...meta, size: total } }, again.body, retention, now);
}

/**
 * Records which fields select this object's variants. In memory at once (the
 * next request must find it), in the Cache API behind the response. A manifest
 * with the same fields is kept, so its variants stay valid.
 */
function storeVaryManifest(tx: Transaction, fields: string[], now: number): void {
  if (tx.manifest && tx.manifest.vary.join(",") === fields.join(",")) return;
  const manifest: VaryManifest = { v: 1, vary: fields, since: now - 1 };
  const record: StoredRecord = { kind: "vary", manifest };
  const retention = tx.pop.config.cache.staleRetentionSeconds;
  tx.pop.memory.set(tx.primaryKey, { record, storedAt: now }, retention);
  tx.ctx.waitUntil(safePut(tx, tx.primaryKey, record, null, retention, now));
}

// ── deliver ──────────────────────────────────────────────────────────────────

/**
 * Delivers a stored entry, or its encoded variant when the client accepts one
 * (see chooseEncoding). `validated`: the origin has just sent or confirmed it
 * for this request; otherwise it is reused, and fields named by no-cache="f" stay back.
 */
function deliverStored(tx: Transaction, found: Found, cacheStatus: CacheStatusEntry, age: number, validated: boolean): Response | Promise<Response> {
  if (tx.pop.config.debug) cacheStatus.key = found.key;
  const choice = chooseEncoding(tx, found);
  const held = validated ? undefined : found.meta.noCacheFields;
  const send = (rep: Representation, encoded: boolean) =>
    deliverTo(tx, held ? { ...rep, headers: withoutFields(rep.headers, held) } : rep, { cacheStatus, age, evaluateRequest: true, encoded });
  if (choice.kind === "as-stored") {
    // A coding the origin applied (not gzip or br, which the runtime decoded) goes out as stored.
    const encoded = found.meta.headers.some(([n, v]) => n === "content-encoding" && v.trim().toLowerCase() !== "identity");
    return send({ status: found.meta.status, headers: found.meta.headers, body: found.body, size: knownSize(found.meta) }, encoded);
  }
  if (choice.kind === "identity") {
    return send({ status: found.meta.status, headers: withVaryAcceptEncoding(found.meta.headers), body: found.body, size: knownSize(found.meta) }, false);
  }
  const variant = tx.pop.memory.get(choice.key);
  const sendEncoded = (headers: [string, string][], body: Uint8Array) => {
    if (tx.request.method === "GET") tx.pop.counters.compressionSavedBytes += Math.max(0, (knownSize(found.meta) ?? 0) - body.byteLength);
    return send({ status: found.meta.status, headers, body, size: body.byteLength }, true);
  };
  if (variant?.body && variant.record.kind === "entry") {
    void cancelBody(found.body);
    return sendEncoded(variant.record.meta.headers, variant.body);
  }
  return encodedVariant(tx, found, choice.coding, choice.key).then((v) =>
    v ? sendEncoded(v.headers, v.body)
      : send({ status: found.meta.status, headers: withVaryAcceptEncoding(found.meta.headers), body: found.body, size: knownSize(found.meta) }, false),
  );
}

function withoutFields(headers: Representation["headers"], names: readonly string[]): [string, string][] {
  return [...headers].filter(([name]) => !names.includes(name));
}

function withCacheStatus(response: Response, cacheStatus: CacheStatusEntry, tx: Transaction): Response {
  return deliverTo(tx, { status: response.status, headers: response.headers, body: response.body, size: undefined }, { cacheStatus, evaluateRequest: false });
}

/** deliver, with what every answer of this transaction shares: the POP, debug, the tier it answers, its timings. */
function deliverTo(tx: Transaction, rep: Representation, options: Pick<DeliverOptions, "cacheStatus" | "age" | "evaluateRequest" | "encoded">): Response {
  const pop = tx.pop;
  const response = deliver(tx.request, rep, { ...options, popName: pop.name, debug: pop.config.debug, toTier: pop.isShield, timing: tx.timing, onBodyBytes: pop.countServedBytes });
  pop.recordResponse(cacheResultOf(options.cacheStatus), response.status, Date.now() - tx.timing.startedAt);
  return response;
}

function failureStatus(failure: OriginFailure | "no-origin"): number {
  if (failure === "client") return 400;
  if (failure === "client-timeout") return 408;
  return failure === "timeout" ? 504 : failure === "no-origin" ? 503 : 502;
}

/** No origin answered: a short, clear error the client can retry. */
function unreachableResponse(tx: Transaction, result: Extract<OriginFetchResult, { ok: false }>, reason: ForwardReason): Response {
  // When no origin of the site is left healthy, the site is unavailable (503), not one bad gateway.
  if (result.failure === "client") return withCacheStatus(errorResponse(400, "the request body could not be read"), { cache: tx.pop.name, fwd: reason, detail: "client-aborted" }, tx);
  if (result.failure === "client-timeout") {
    const timedOut = errorResponse(408, `the request body stopped arriving (no bytes for ${tx.pop.config.originFetch.uploadIdleTimeoutMs} ms)`);
    return withCacheStatus(timedOut, { cache: tx.pop.name, fwd: reason, detail: "client-timeout" }, tx);
  }
  const after = tx.pop.candidates(tx.site, tx.cf, Date.now());
  const noneHealthy = result.failure === "no-origin" || after.healthy === 0;
  const status = noneHealthy ? 503 : failureStatus(result.failure);
  const message = noneHealthy ? "no healthy origin" : result.failure === "timeout" ? "origin timed out" : result.failure === "invalid" ? "origin sent an invalid response" : "origin unreachable";
  // Which origins were tried is internal: the client learns it only with debug on.
  const detail = tx.pop.config.debug ? { attempts: result.attempts.map((a) => ({ origin: a.originId, outcome: a.outcome, ms: a.ms })) } : {};
  const response = errorResponse(status, message, detail);
  response.headers.set("retry-after", "5");
  response.headers.set("cache-control", "no-store");
  return withCacheStatus(response, { cache: tx.pop.name, fwd: reason, fwdStatus: status, detail: result.failure }, tx);
}
