/**
 * The edge pipeline inside workerd (the workers vitest pool), in front of a
 * real reference origin on loopback.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { READ_TOKEN } from "./env";

const admin = inject("originAdminUrl");
let unique = 0;
/** A path no other test uses, so each test starts cold. */
function fresh(path: string): string {
  const sep = path.includes("?") ? "&" : "?";
  return `${path}${sep}n=${Date.now()}-${++unique}`;
}

function get(path: string, init: RequestInit = {}, host = "cdn.test"): Promise<Response> {
  return SELF.fetch(`http://${host}${path}`, init);
}

/** The POP's hit for `path`, once its store (behind the miss's answer) has landed. */
async function waitForHit(path: string): Promise<Response> {
  for (let i = 0; i < 40; i++) {
    const answer = await get(path);
    if (/^Outpost-TST;hit/.test(answer.headers.get("cache-status") ?? "")) return answer;
    await answer.arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} never became a hit`);
}

async function originHits(path: string): Promise<number> {
  const stats = (await (await fetch(`${admin}/stats`)).json()) as { byPath: Record<string, number> };
  return stats.byPath[path] ?? 0;
}

describe("miss, then hit", () => {
  it("stores a cacheable response and serves the repeat from the POP", async () => {
    const path = fresh("/headers?cache-control=public,max-age=60");
    const first = await get(path);
    expect(first.status).toBe(200);
    expect(first.headers.get("cache-status")).toMatch(/^Outpost-TST;fwd=uri-miss;fwd-status=200;ttl=(59|60);stored$/);
    const body = await first.text();
    const second = await get(path);
    expect(second.headers.get("cache-status")).toMatch(/^Outpost-TST;hit;ttl=(59|60)$/);
    expect(await second.text()).toBe(body);
    expect(second.headers.get("via")).toBe("1.1 Outpost-TST");
    expect(Number(second.headers.get("age"))).toBeGreaterThanOrEqual(0);
    // Server-Timing shows the verdict, the trip to the origin (on the miss), and the total.
    expect(first.headers.get("server-timing")).toMatch(/^cache;desc="miss", origin;dur=\d+, total;dur=\d+$/);
    expect(second.headers.get("server-timing")).toMatch(/^cache;desc="hit", total;dur=\d+$/);
  });

  it("gives every hit fields of its own: what one answer adds (a range, a length) never reaches the next", async () => {
    const path = fresh("/headers?cache-control=public,max-age=60&body=0123456789");
    await (await get(path)).text();
    const ranged = await get(path, { headers: { range: "bytes=0-3" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toMatch(/^bytes 0-3\//);
    await ranged.text();
    const head = await get(path, { method: "HEAD" });
    expect(head.headers.get("content-length")).not.toBeNull();
    const plain = await get(path);
    expect(plain.status).toBe(200);
    expect(plain.headers.get("content-range")).toBeNull();
    expect(plain.headers.get("cache-status")).toMatch(/^Outpost-TST;hit;ttl=\d+$/);
    expect((plain.headers.get("via") ?? "").split(",")).toHaveLength(1);
    await plain.text();
  });

  it("moves each hit's Age and ttl with the clock, though hits within a second share their fields", async () => {
    const path = fresh("/headers?cache-control=public,max-age=60");
    await (await get(path)).text();
    const first = await get(path);
    const again = await get(path);
    await Promise.all([first.text(), again.text()]);
    await new Promise((r) => setTimeout(r, 1100));
    const later = await get(path);
    await later.text();
    expect(Number(later.headers.get("age"))).toBeGreaterThan(Number(first.headers.get("age")));
    const ttl = (r: Response) => Number(/ttl=(\d+)/.exec(r.headers.get("cache-status") ?? "")?.[1]);
    expect(ttl(later)).toBeLessThan(ttl(first));
  });

  it("gives no default TTL to a response without freshness information", async () => {
    const path = fresh("/headers?x=1");
    const a = await (await get(path)).text();
    const second = await get(path);
    expect(second.headers.get("cache-status")).not.toContain("hit");
    expect(await second.text()).not.toBe(a);
  });

  it("never stores no-store or Set-Cookie responses", async () => {
    for (const query of ["cache-control=no-store", "cache-control=max-age%3D60&set-cookie=a%3D1"]) {
      const path = fresh(`/headers?${query}`);
      const a = await (await get(path)).text();
      const b = await get(path);
      expect(b.headers.get("cache-status")).toContain("fwd=uri-miss");
      expect(await b.text()).not.toBe(a);
    }
  });

  it("passes the origin's 404 through", async () => {
    const response = await get(fresh("/no/such/thing"));
    expect(response.status).toBe(404);
    expect(response.headers.get("cache-status")).toContain("fwd-status=404");
    expect(response.headers.get("x-origin-id")).toBe("test-origin");
  });

  it("removes Outpost-only fields before the client", async () => {
    const response = await get(fresh("/headers?outpost-cdn-cache-control=max-age%3D30&surrogate-control=max-age%3D5&cache-tag=a,b"));
    await response.text();
    expect(response.headers.get("outpost-cdn-cache-control")).toBeNull();
    expect(response.headers.get("surrogate-control")).toBeNull();
    expect(response.headers.get("cache-tag")).toBeNull();
    expect(response.headers.get("cache-status")).toMatch(/ttl=(29|30)/);
  });
});

describe("a streamed miss", () => {
  // 64 KiB is read whole for memory as it streams; 3 MB, past memoryEntryMaxBytes, is sent and stored in step.
  it.each([65_536, 3_000_000])("sends the head of a %d-byte answer its origin sends unbuffered at once, though the rest comes later, and stores it whole", async (size) => {
    const path = fresh(`/gen/${size}?ttl=600&pauseAfter=2048&pauseMs=1500&unbuffered=1`);
    const started = Date.now();
    const first = await get(path);
    expect(first.headers.get("cache-status")).toMatch(/fwd=uri-miss;fwd-status=200;ttl=\d+;stored$/);
    // The origin's ask is for the CDN, as nginx treats it: the client never sees it.
    expect(first.headers.get("x-accel-buffering")).toBeNull();
    const reader = first.body!.getReader();
    const head = await reader.read();
    // The origin's pause is 1.5 s: the head came before it ended.
    expect(Date.now() - started).toBeLessThan(1000);
    let total = head.value?.byteLength ?? 0;
    for (let next = await reader.read(); !next.done; next = await reader.read()) total += next.value.byteLength;
    expect(total).toBe(size);
    const again = await waitForHit(path);
    expect((await again.arrayBuffer()).byteLength).toBe(size);
  });
});

describe("answered from the cache", () => {
  it("answers If-None-Match with 304 and Range with 206", async () => {
    const path = "/styles/site.css";
    const full = await get(path);
    const etag = full.headers.get("etag")!;
    const text = await full.text();
    const notModified = await get(path, { headers: { "if-none-match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("cache-status")).toContain("hit");
    const partial = await get(path, { headers: { range: "bytes=5-14" } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get("content-range")).toBe(`bytes 5-14/${text.length}`);
    expect(await partial.text()).toBe(text.slice(5, 15));
    const unsatisfiable = await get(path, { headers: { range: `bytes=${text.length + 10}-` } });
    expect(unsatisfiable.status).toBe(416);
  });

  it("answers ranges of an object too large for memory, from anywhere in it", async () => {
    // Held by the Cache API alone: a range past its first read is the store's own read (ranged-body.ts).
    const size = 3 * 1024 * 1024;
    const path = fresh(`/gen/${size}?ttl=60`);
    const whole = new Uint8Array(await (await get(path)).arrayBuffer());
    await (await waitForHit(path)).arrayBuffer();
    for (const [start, end] of [
      [size - 100, size - 1],
      [2_000_000, 2_000_999],
      [10, 19],
    ]) {
      const partial = await get(path, { headers: { range: `bytes=${start}-${end}` } });
      expect(partial.status).toBe(206);
      expect(partial.headers.get("cache-status")).toContain("hit");
      expect(partial.headers.get("content-range")).toBe(`bytes ${start}-${end}/${size}`);
      expect(new Uint8Array(await partial.arrayBuffer())).toEqual(whole.subarray(start, end + 1));
    }
  });

  it("answers HEAD without a body", async () => {
    const path = fresh("/gen/2048?ttl=60");
    const head = await get(path, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const again = await get(path);
    expect(again.headers.get("cache-status")).toContain("hit");
    expect((await again.arrayBuffer()).byteLength).toBe(2048);
  });
});

describe("collapsing", () => {
  it("sends one origin request for concurrent misses of one key", async () => {
    const path = fresh("/gen/4096?ttl=60");
    const responses = await Promise.all(Array.from({ length: 20 }, () => get(path)));
    const statuses = responses.map((r) => r.headers.get("cache-status") ?? "");
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    const pathOnly = path.split("?")[0];
    expect(await originHits(pathOnly)).toBeGreaterThanOrEqual(1);
    const forwarded = statuses.filter((s) => s.includes("fwd=") && !s.includes("collapsed"));
    expect(forwarded.length).toBe(1);
    expect(statuses.filter((s) => s.includes("collapsed") || s.includes("hit")).length).toBe(19);
  });
});

describe("unsafe methods", () => {
  it("invalidate the stored response for their target", async () => {
    const path = fresh("/headers?cache-control=max-age%3D60");
    const before = await (await get(path)).text();
    expect((await get(path)).headers.get("cache-status")).toContain("hit");
    const post = await get(path, { method: "POST", body: "x" });
    expect(post.headers.get("cache-status")).toContain("fwd=method");
    await post.text();
    const after = await get(path);
    expect(after.headers.get("cache-status")).toContain("fwd=uri-miss");
    expect(await after.text()).not.toBe(before);
  });
});

describe("bad input", () => {
  it("answers an unknown host with 421 and fetches nothing", async () => {
    const response = await get("/index.html", {}, "elsewhere.example");
    expect(response.status).toBe(421);
    expect(await response.json()).toMatchObject({ error: "unknown host", host: "elsewhere.example" });
  });

  it("answers 502 with Cache-Status fwd-status when the origin refuses connections", async () => {
    const response = await get(fresh("/index.html"), {}, "down.test");
    expect(response.status).toBe(502);
    expect(response.headers.get("cache-status")).toMatch(/fwd=uri-miss;fwd-status=502/);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await response.json()).toMatchObject({ error: "origin unreachable" });
  });

  it("answers 502 with Cache-Status and Retry-After when the origin's status is not an HTTP status", async () => {
    const response = await get(fresh("/invalid-status"));
    expect(response.status).toBe(502);
    expect(response.headers.get("cache-status")).toMatch(/fwd=uri-miss;fwd-status=502;detail="invalid"/);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await response.json()).toMatchObject({ error: "origin sent an invalid response" });
  });

  it("answers 504 when the origin does not answer in time", async () => {
    const path = fresh("/headers?cache-control=max-age%3D60");
    await fetch(`${admin}/fault`, { method: "POST", body: JSON.stringify({ mode: "slow", delayMs: 5000 }) });
    try {
      const started = Date.now();
      const response = await get(path);
      expect(response.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(4900);
      expect(response.headers.get("cache-status")).toContain("fwd-status=504");
    } finally {
      await fetch(`${admin}/fault`, { method: "POST", body: JSON.stringify({ mode: "ok" }) });
    }
  });
});

describe("an origin with as many requests waiting as it may (circuit breaking)", () => {
  // narrow.test's one origin takes one request at a time from an isolate (maxRequests: 1); spill.test
  // has it first and the unlimited origin after it. The origin's fault switch holds its headers back.
  const slow = (delayMs: number) => fetch(`${admin}/fault`, { method: "POST", body: JSON.stringify({ mode: "slow", delayMs }) });
  const ok = () => fetch(`${admin}/fault`, { method: "POST", body: JSON.stringify({ mode: "ok" }) });
  const sent = () => new Promise((resolve) => setTimeout(resolve, 150));

  it("refuses the next request at once with 503, Retry-After and detail=overflow, while the first is answered", async () => {
    await slow(1000);
    try {
      const first = get(fresh("/headers?cache-control=max-age%3D60"), {}, "narrow.test");
      await sent();
      const started = Date.now();
      const second = await get(fresh("/headers?cache-control=max-age%3D60"), {}, "narrow.test");
      expect(Date.now() - started).toBeLessThan(900);
      expect(second.status).toBe(503);
      expect(second.headers.get("retry-after")).toBe("5");
      expect(second.headers.get("cache-status")).toMatch(/fwd=uri-miss;fwd-status=503;detail="overflow"/);
      expect(await second.json()).toMatchObject({ error: "every origin has as many requests waiting as this CDN sends it" });
      expect((await first).status).toBe(200);
    } finally {
      await ok();
    }
  });

  it("sends the next request on to the site's next origin instead", async () => {
    const overflows = async () =>
      ((await (await get("/__outpost/status", { headers: { authorization: `Bearer ${READ_TOKEN}` } })).json()) as { counters: { originOverflows: number } }).counters
        .originOverflows;
    const before = await overflows();
    await slow(1000);
    try {
      const first = get(fresh("/headers?cache-control=max-age%3D60"), {}, "spill.test");
      await sent();
      const second = await get(fresh("/headers?cache-control=max-age%3D60"), {}, "spill.test");
      expect(second.status).toBe(200);
      expect(second.headers.get("cache-status")).toMatch(/fwd=uri-miss;fwd-status=200/);
      // It passed the full origin over: the answer is the next one's.
      expect(await overflows()).toBe(before + 1);
      expect((await first).status).toBe(200);
    } finally {
      await ok();
    }
  });

  it("serves a stale copy in place of the 503 when there is one", async () => {
    const path = fresh("/headers?cache-control=max-age%3D1");
    expect((await get(path, {}, "narrow.test")).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await slow(1000);
    try {
      const first = get(fresh("/headers?cache-control=max-age%3D60"), {}, "narrow.test");
      await sent();
      const stale = await get(path, {}, "narrow.test");
      expect(stale.status).toBe(200);
      expect(stale.headers.get("cache-status")).toMatch(/fwd=stale;fwd-status=503/);
      expect((await first).status).toBe(200);
    } finally {
      await ok();
    }
  });
});
