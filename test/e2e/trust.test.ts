/**
 * The tiers trust no one, on the shielded network (POP → shield shard →
 * origin): what a client or an origin sends can neither act inside the tiers
 * nor reach another client, a shard's failure is never confused with an
 * origin's answer, a 304 cannot make a shared entry personal, and a cold
 * request behind stalling origins has one deadline across the tiers. Ends with
 * a poisoning oracle: random hostile requests, then a clean client.
 */
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { coldObject, originRequests as originRequestsOf, setFault, startTestNetwork, unique } from "./helpers";

const BODY_IDLE_MS = 1500;
const DEADLINE_MS = 2500;
let network: Network;
beforeAll(async () => {
  network = await startTestNetwork({
    snapshotRefreshMs: 100,
    // One owner per key, so that POPs in any region share a shard's copy (the tests count on it).
    configOverrides: {
      originFetch: { timeoutMs: 2000, retries: 1, bodyIdleTimeoutMs: BODY_IDLE_MS, deadlineMs: DEADLINE_MS },
      shield: { enabled: true, shardsPerRegion: 2, placement: "key" },
    },
  });
});
afterEach(async () => {
  for (const origin of network.topology.origins) await setFault(origin.admin, { mode: "ok" });
});
afterAll(async () => {
  await network?.stop();
});

const popUrl = (colo: string) => network.topology.pops.find((p) => p.colo === colo)!.url;
const originRequests = (path: string) => originRequestsOf(network.topology, path);

async function get(colo: string, path: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${popUrl(colo)}${path}`, { headers: { "accept-encoding": "identity", ...headers } });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

let size = 9100;
const fresh = (ttl: number) => coldObject(size++, ttl);

describe("internal fields from a client act nowhere", () => {
  it("a GET carrying X-Outpost-Invalidate leaves the shard's copy, which the next POP is served from", async () => {
    const { path, counted } = fresh(60);
    expect((await get("IAD", path)).status).toBe(200);
    // FRA has no copy: its miss goes to the shard, with the client's invalidation field if it were passed on.
    const hostile = await get("FRA", path, { "x-outpost-invalidate": "1", "x-outpost-url": "https://localhost/other" });
    expect(hostile.status).toBe(200);
    const next = await get("SIN", path);
    expect(next.headers.get("cache-status")).toMatch(/^Outpost-Shield-[a-z-]+-\d;hit/);
    expect(await originRequests(counted)).toBe(1);
  });
});

describe("a shard's failure is its own", () => {
  it("an origin's 401 through the shard is the origin's answer: one origin request, no bypass, no shard failure", async () => {
    const path = unique("/headers?status=401&cache-control=no-store");
    for (let i = 0; i < 4; i++) {
      const answer = await get("FRA", path);
      expect(answer.status).toBe(401);
      expect(answer.headers.get("cache-status")).not.toMatch(/shield-down|shield-ejected/);
    }
    expect(await originRequests("/headers")).toBeGreaterThan(0);
    const before = await originRequests("/headers");
    await get("FRA", path);
    expect(await originRequests("/headers")).toBe(before + 1);
  });

  it("an origin that sends the tiers' own fields is not believed, and its fields reach no client", async () => {
    const path = unique("/headers?cache-control=no-store&x-outpost-shield-unavailable=1&x-outpost-shield-answer=forged");
    const before = await originRequests("/headers");
    const answer = await get("GRU", path);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("cache-status")).not.toMatch(/shield-down/);
    expect([...answer.headers.keys()].filter((n) => n.startsWith("x-outpost-"))).toEqual([]);
    expect(await originRequests("/headers")).toBe(before + 1);
  });
});

describe("a 304 through the tiers is judged before it is stored", () => {
  it("one that makes the response private reaches neither the shard's nor the POP's shared copy", async () => {
    const path = unique("/headers?etag=%22v1%22&cache-control=max-age%3D0&304-cache-control=private%2C%20max-age%3D60&304-x-user=alice");
    expect((await get("FRA", path)).status).toBe(200);
    // Stale at once: this request revalidates through the shard, and the origin's 304 makes it private.
    const alice = await get("FRA", path);
    expect(alice.headers.get("x-user")).toBe("alice");
    // Neither tier kept it: the next request fills afresh from the origin (no 304 fields), or, at
    // the POP's other isolate, revalidates the stale copy it had from before.
    const next = await get("FRA", path);
    expect(next.headers.get("x-user")).toBeNull();
    expect(next.headers.get("cache-status")).toMatch(/^Outpost-Shield-[a-z-]+-\d;fwd=uri-miss.*Outpost-FRA;fwd=(uri-miss|stale)/);
    // Whoever the origin answers with its 304 gets it; no hit anywhere ever carries it.
    for (const colo of ["IAD", "SIN", "FRA"]) {
      const other = await get(colo, path);
      if (other.headers.get("x-user") !== null) expect(other.headers.get("cache-status")).not.toMatch(/;hit/);
    }
  });
});

describe("one deadline across the tiers", () => {
  it("20 concurrent cold requests behind stalling origins all get their answer within the idle timeout and a small margin", async () => {
    for (const origin of network.topology.origins) await setFault(origin.admin, { mode: "stall", afterBytes: 100 });
    const path = unique("/gen/30000?ttl=60");
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => get(["FRA", "IAD"][i % 2], path).then((a) => ({ ...a, ms: Date.now() - started }))));
    for (const answer of answers) {
      expect([502, 503, 504]).toContain(answer.status);
      expect(answer.headers.get("cache-status")).toMatch(/fwd=/);
      expect(answer.headers.get("retry-after")).not.toBeNull();
      expect(answer.ms).toBeLessThan(BODY_IDLE_MS + 2000);
    }
  });
});

// ── the poisoning oracle ─────────────────────────────────────────────────────

/** Fields a client might send to change an answer without changing its key. */
const HOSTILE_FIELDS = [
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-for",
  "forwarded",
  "x-original-url",
  "x-rewrite-url",
  "x-http-method-override",
  "x-host",
  "true-client-ip",
  "x-real-ip",
  "x-client-ip",
  "surrogate-capability",
  "x-outpost-invalidate",
  "x-outpost-url",
  "x-outpost-pop-token",
  "x-outpost-purge-seq",
  "x-outpost-shield",
  "x-outpost-budget-ms",
];
/** Query parameters left out of the key: they must not reach the origin either. */
const IGNORED_PARAMS = ["utm_source", "utm_campaign", "fbclid", "gclid"];

interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** What an echo says reached the origin, less what differs between any two clean requests (noise, the route taken). */
function meaningful(echo: Echo): Record<string, string> {
  const kept: Record<string, string> = { method: echo.method, path: echo.path.replace(/[?&]n=[^&]*/, "") };
  for (const [name, value] of Object.entries(echo.headers)) {
    if (name.startsWith("x-noise-") || name === "via" || name === "host" || name === "content-length") continue;
    kept[name] = value;
  }
  return kept;
}

describe("the poisoning oracle", () => {
  it("after any hostile request, a clean client gets exactly the clean answer, with nothing the attacker sent", async () => {
    const colos = network.topology.pops.map((p) => p.colo);
    const baseline = meaningful(JSON.parse((await get("FRA", unique("/echo?ttl=60&oracle=baseline"))).body) as Echo);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(HOSTILE_FIELDS, { minLength: 1 }),
        fc.subarray(IGNORED_PARAMS),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(...colos),
        fc.constantFrom(...colos),
        fc.boolean(),
        async (fields, params, noise, attackerColo, cleanColo, head) => {
          const token = `tok${process.pid}x${++run}q${Math.random().toString(36).slice(2, 8)}`;
          const base = unique("/echo?ttl=60&oracle=1");
          const hostileQuery = params.map((p) => `&${p}=${token}`).join("");
          const headers: Record<string, string> = {};
          for (const name of fields) headers[name] = name === "forwarded" ? `host=${token}` : token;
          for (let i = 0; i < noise; i++) headers[`x-noise-${i}`] = token;
          const attack = await fetch(`${popUrl(attackerColo)}${base}${hostileQuery}`, { method: head ? "HEAD" : "GET", headers: { "accept-encoding": "identity", ...headers } });
          await attack.arrayBuffer();
          const clean = await get(cleanColo, base);
          expect(clean.status).toBe(200);
          // No field of the attacker's in the clean client's answer, nor in what the origin was told.
          for (const [name, value] of clean.headers) expect(`${name}: ${value}`).not.toContain(token);
          const echo = meaningful(JSON.parse(clean.body) as Echo);
          expect(JSON.stringify(echo)).not.toContain(token);
          expect({ ...echo, path: "" }).toEqual({ ...baseline, path: "" });
        },
      ),
      { numRuns: 40 },
    );
  });

  it("whatever fields an origin sends, a clean client gets them as sent, less the tiers' own", async () => {
    const colos = network.topology.pops.map((p) => p.colo);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom("x-outpost-meta", "x-outpost-shield-answer", "x-outpost-url", "x-outpost-stored-at", "x-outpost-invalidate", "x-app-a", "x-app-b", "link"), {
          minLength: 1,
        }),
        fc.constantFrom(...colos),
        fc.constantFrom(...colos),
        async (fields, firstColo, cleanColo) => {
          const query = fields.map((f) => `&${f}=v-${f}`).join("");
          const path = unique(`/headers?cache-control=max-age%3D60${query}`);
          await get(firstColo, path);
          const clean = await get(cleanColo, path);
          expect(clean.status).toBe(200);
          for (const field of fields) {
            if (field.startsWith("x-outpost-")) expect(clean.headers.get(field)).toBeNull();
            else expect(clean.headers.get(field)).toBe(`v-${field}`);
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});
