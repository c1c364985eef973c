/** RFC 9111 / 5861 behaviour through the worker, against the reference origin. */
import { SELF } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";

const admin = inject("originAdminUrl");
let unique = 0;
const fresh = (path: string) => `${path}${path.includes("?") ? "&" : "?"}n=sem-${Date.now()}-${++unique}`;
const get = (path: string, init: RequestInit = {}) => SELF.fetch(`http://cdn.test${path}`, init);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cc = (value: string) => `cache-control=${encodeURIComponent(value)}`;

async function fault(body: Record<string, unknown>) {
  const r = await fetch(`${admin}/fault`, { method: "POST", body: JSON.stringify(body) });
  expect(r.status).toBe(200);
}

describe("stale-while-revalidate", () => {
  it("serves the stale copy at once and refreshes it in the background", async () => {
    const path = fresh(`/headers?${cc("max-age=1, stale-while-revalidate=30")}`);
    const first = await (await get(path)).text();
    await sleep(2100);
    const stale = await get(path);
    expect(stale.headers.get("cache-status")).toMatch(/hit;ttl=-\d+;detail="stale-while-revalidate"/);
    expect(await stale.text()).toBe(first);
    const refreshed = await (async () => {
      for (let i = 0; i < 40; i++) {
        await sleep(50);
        const r = await get(path);
        const text = await r.text();
        if (text !== first) return { text, status: r.headers.get("cache-status") };
      }
      return undefined;
    })();
    expect(refreshed?.status).toMatch(/hit;ttl=\d/);
  });
});

describe("validation", () => {
  it("revalidates a stale entry with If-None-Match and freshens it on 304", async () => {
    // Stored for 1 s; the 304 gives 60. A 304 that gave 1 s again left the entry stale at once
    // when the origin's whole-second Date made its age 1 (one CI run in several).
    const path = fresh(`/headers?${cc("max-age=1")}&etag=%22v1%22&304-${cc("max-age=60")}`);
    const stored = await (await get(path)).text();
    await sleep(2100);
    const revalidated = await get(path);
    expect(revalidated.headers.get("cache-status")).toMatch(/fwd=stale;fwd-status=304;ttl=(59|60);stored/);
    expect(await revalidated.text()).toBe(stored);
    const hit = await get(path);
    expect(hit.headers.get("cache-status")).toMatch(/hit/);
    expect(await hit.text()).toBe(stored);
  });

  it("ignores a client's no-cache by default, and revalidates when the site honors request directives", async () => {
    const path = fresh("/gen/100?ttl=60");
    await (await get(path)).arrayBuffer();
    const ignored = await get(path, { headers: { "cache-control": "no-cache", pragma: "no-cache" } });
    expect(ignored.headers.get("cache-status")).toMatch(/;hit/);
    await ignored.arrayBuffer();

    await (await SELF.fetch(`http://honor.test${path}`)).arrayBuffer();
    const honored = await SELF.fetch(`http://honor.test${path}`, { headers: { "cache-control": "no-cache" } });
    expect(honored.headers.get("cache-status")).toMatch(/fwd=request;fwd-status=304/);
    await honored.arrayBuffer();
  });
});

describe("Vary", () => {
  it("keeps one variant per normalized selecting header", async () => {
    const path = fresh(`/headers?${cc("max-age=60")}&vary=Accept-Language`);
    const en = await (await get(path, { headers: { "accept-language": "en, de" } })).text();
    const de = await get(path, { headers: { "accept-language": "de;q=0.9" } });
    expect(de.headers.get("cache-status")).toContain("fwd=vary-miss");
    expect(await de.text()).not.toBe(en);
    const enAgain = await get(path, { headers: { "accept-language": "DE, en" } });
    expect(enAgain.headers.get("cache-status")).toContain("hit");
    expect(await enAgain.text()).toBe(en);
  });

  it("never serves Vary: * from the cache", async () => {
    const path = fresh(`/headers?${cc("max-age=60")}&vary=*`);
    await (await get(path)).text();
    const again = await get(path);
    expect(again.headers.get("cache-status")).toContain("fwd=uri-miss");
    await again.text();
  });
});

describe("invalidation", () => {
  it("invalidates a same-origin Location after a POST", async () => {
    const target = fresh(`/headers?${cc("max-age=60")}`);
    const before = await (await get(target)).text();
    const post = await get(`/headers?location=${encodeURIComponent(target)}`, { method: "POST", body: "x" });
    await post.text();
    const after = await get(target);
    expect(after.headers.get("cache-status")).toContain("fwd=uri-miss");
    expect(await after.text()).not.toBe(before);
  });
});

describe("POST answers", () => {
  it("reuses a POST answer with its own Content-Location and explicit freshness for later GETs", async () => {
    const path = fresh("/api/orders");
    const post = await get(path, { method: "POST", body: "{}", headers: { "x-cacheable-post": "1" } });
    expect(post.headers.get("cache-status")).toMatch(/fwd=method;fwd-status=200;ttl=(59|60);stored/);
    const body = await post.text();
    const again = await get(path);
    expect(again.headers.get("cache-status")).toContain("hit");
    expect(await again.text()).toBe(body);
  });
});

describe("stale-if-error", () => {
  it("serves the stale copy when the origin fails, and not when must-revalidate forbids it", async () => {
    const allowed = fresh(`/headers?${cc("max-age=1, stale-if-error=60")}`);
    const forbidden = fresh(`/headers?${cc("max-age=1, must-revalidate")}`);
    const body = await (await get(allowed)).text();
    await (await get(forbidden)).text();
    await sleep(2100);
    await fault({ mode: "error", status: 503 });
    try {
      const stale = await get(allowed);
      expect(stale.status).toBe(200);
      expect(stale.headers.get("cache-status")).toMatch(/fwd=stale;fwd-status=503/);
      expect(await stale.text()).toBe(body);
      const refused = await get(forbidden);
      expect(refused.status).toBe(503);
      await refused.text();
    } finally {
      await fault({ mode: "ok" });
    }
  });
});

describe("targeted and malformed cache fields", () => {
  it("lets CDN-Cache-Control govern and leaves Cache-Control for the browser", async () => {
    const path = fresh(`/headers?${cc("no-store")}&cdn-cache-control=max-age%3D120`);
    const first = await get(path);
    expect(first.headers.get("cache-status")).toMatch(/ttl=(119|120);stored/);
    expect(first.headers.get("cache-control")).toBe("no-store");
    await first.text();
    expect((await get(path)).headers.get("cache-status")).toContain("hit");
  });

  it("treats garbage max-age as stale and a list-valued Age by its first member, never as fresh", async () => {
    for (const query of [cc("max-age=banana"), `${cc("max-age=60")}&age=${encodeURIComponent("7200, 0")}`]) {
      const path = fresh(`/headers?${query}`);
      await (await get(path)).text();
      const second = await get(path);
      expect(second.headers.get("cache-status"), query).not.toMatch(/;hit/);
      await second.text();
    }
  });

  it("survives a huge header value from the origin", async () => {
    const path = fresh(`/headers?${cc("max-age=60")}&x-big=${"a".repeat(16000)}`);
    const r = await get(path);
    expect(r.status).toBe(200);
    await r.text();
    const again = await get(path);
    expect(again.status).toBe(200);
    await again.text();
  });

  it("survives malformed client fields: garbage Range, dates, entity tags and directives", async () => {
    const path = fresh(`/headers?${cc("max-age=60")}`);
    const body = await (await get(path)).text();
    const weird: Record<string, string>[] = [
      { range: "bytes=abc-def" },
      { range: "bytes=5-1" },
      { range: `bytes=0-${"9".repeat(400)}` },
      { "if-modified-since": "yesterday at noon" },
      { "if-none-match": 'W/"unterminated' },
      { "if-match": "*, *, ***" },
      { "cache-control": "max-age=-1, min-fresh=abc, max-stale=" },
      { "accept-encoding": ";;;q=abc, ,br;q=2" },
      { "if-range": "not a date or tag", range: "bytes=0-1" },
    ];
    for (const headers of weird) {
      const r = await get(path, { headers });
      expect(r.status, JSON.stringify(headers)).toBeLessThan(500);
      if (r.status === 200) expect(await r.text()).toBe(body);
      else await r.arrayBuffer();
    }
  });
});
