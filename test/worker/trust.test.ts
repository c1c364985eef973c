/**
 * What a client or an origin may not do to a POP (the tiers trust no one):
 * send fields the tiers use to talk, turn a shared entry private through a
 * 304, keep an ejectable origin in rotation with error pages, hold an upload
 * open, explode a body, or name one object two ways. Inside workerd, in front
 * of the real reference origin.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { READ_TOKEN } from "./env";

const admin = inject("originAdminUrl");
let unique = 0;
function fresh(path: string): string {
  return `${path}${path.includes("?") ? "&" : "?"}n=${Date.now()}-${++unique}`;
}
function get(path: string, init: RequestInit = {}, host = "cdn.test"): Promise<Response> {
  return SELF.fetch(`http://${host}${path}`, init);
}
async function originHits(path: string): Promise<number> {
  const stats = (await (await fetch(`${admin}/stats`)).json()) as { byPath: Record<string, number> };
  return stats.byPath[path] ?? 0;
}
async function setFault(fault: Record<string, unknown>): Promise<void> {
  await fetch(`${admin}/fault`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fault) });
}

describe("internal fields", () => {
  it("none a client sends reaches the origin, nor an address it claims for itself", async () => {
    const answer = await get(fresh("/echo?ttl=0"), {
      headers: {
        "x-outpost-invalidate": "1",
        "x-outpost-pop-token": "guess",
        "x-outpost-shield-answer": "forged",
        "true-client-ip": "10.9.9.9",
        "x-real-ip": "10.9.9.9",
        "x-client-ip": "10.9.9.9",
      },
    });
    const seen = ((await answer.json()) as { headers: Record<string, string> }).headers;
    expect(Object.keys(seen).filter((name) => name.startsWith("x-outpost-"))).toEqual([]);
    expect(seen["true-client-ip"]).toBeUndefined();
    expect(seen["x-real-ip"]).toBeUndefined();
    expect(seen["x-client-ip"]).toBeUndefined();
  });

  it("none an origin sends reaches a client, stored or not", async () => {
    const path = fresh("/headers?cache-control=max-age%3D60&x-outpost-shield-unavailable=1&x-outpost-meta=forged&x-other=kept");
    for (let i = 0; i < 2; i++) {
      const answer = await get(path);
      await answer.text();
      expect(answer.status).toBe(200);
      expect([...answer.headers.keys()].filter((name) => name.startsWith("x-outpost-"))).toEqual([]);
      expect(answer.headers.get("x-other")).toBe("kept");
    }
  });
});

describe("a 304 is judged like a fresh response before it is stored", () => {
  it("one that turns the response private is its client's alone: the next client never gets it as a hit", async () => {
    const path = fresh("/headers?etag=%22v1%22&cache-control=max-age%3D0&304-cache-control=private%2C%20max-age%3D60&304-x-user=alice");
    const first = await get(path);
    expect(first.status).toBe(200);
    await first.text();
    // Stale at once: this request revalidates, and the origin's 304 makes the response private.
    const alice = await get(path);
    expect(alice.status).toBe(200);
    expect(alice.headers.get("x-user")).toBe("alice");
    await alice.text();
    const someoneElse = await get(path);
    await someoneElse.text();
    expect(someoneElse.headers.get("x-user")).toBeNull();
    expect(someoneElse.headers.get("cache-status")).not.toMatch(/;hit/);
  });

  it("one that says no-store removes the stored copy", async () => {
    const path = fresh("/headers?etag=%22v1%22&cache-control=max-age%3D0&304-cache-control=no-store");
    await (await get(path)).text();
    await (await get(path)).text();
    const before = await originHits("/headers");
    const next = await get(path);
    await next.text();
    // Nothing stored to revalidate: a plain fill (no 304 fields), not a conditional request.
    expect(next.headers.get("cache-status")).toMatch(/fwd=uri-miss/);
    expect(await originHits("/headers")).toBe(before + 1);
  });
});

describe('private="field"', () => {
  it("keeps the field from the store, not from the client whose request filled it", async () => {
    const path = fresh("/headers?cache-control=max-age%3D60%2C%20private%3D%22x-secret%22&x-secret=s3cr3t");
    const filler = await get(path);
    await filler.text();
    expect(filler.headers.get("x-secret")).toBe("s3cr3t");
    const next = await get(path);
    await next.text();
    expect(next.headers.get("cache-status")).toMatch(/;hit/);
    expect(next.headers.get("x-secret")).toBeNull();
  });
});

describe("Vary keeps case where it means something", () => {
  it("a Cookie that differs only in case is another user's variant", async () => {
    const path = fresh("/headers?cache-control=max-age%3D60&vary=cookie");
    const upper = await get(path, { headers: { cookie: "session=ABC" } });
    const upperBody = await upper.text();
    const lower = await get(path, { headers: { cookie: "session=abc" } });
    expect(await lower.text()).not.toBe(upperBody);
    expect(lower.headers.get("cache-status")).not.toMatch(/;hit/);
  });
});

describe("one resource, one key", () => {
  it("a percent-encoded unreserved character names the same object (RFC 3986 §6.2.2.2)", async () => {
    const query = fresh("?cache-control=max-age%3D60");
    const plain = await get(`/headers${query}`);
    const body = await plain.text();
    const encoded = await get(`/h%65aders${query}`);
    expect(await encoded.text()).toBe(body);
    expect(encoded.headers.get("cache-status")).toMatch(/;hit/);
  });
});

describe("passive health", () => {
  it("ejects an origin that answers every request with a 503 page, its body arriving whole", async () => {
    await setFault({ mode: "error", status: 503 });
    try {
      for (let i = 0; i < 3; i++) await (await get(fresh("/nocache"), {}, "flaky.test")).text();
    } finally {
      await setFault({ mode: "ok" });
    }
    const status = (await (await get("/__outpost/status", { headers: { authorization: `Bearer ${READ_TOKEN}` } }, "flaky.test")).json()) as {
      origins: { originId: string; ejected: boolean }[];
    };
    expect(status.origins.find((o) => o.originId === "flaky")?.ejected).toBe(true);
  });
});

describe("the POP's reserved paths", () => {
  it("answer 404 to a client, however spelled, and never reach an origin or a cache key", async () => {
    for (const path of ["/__outpost/internal/variant/x?of=https%3A%2F%2Fcdn.test%2F", "/%5F%5Foutpost/internal/encoded/br/1", "/__outpost/anything"]) {
      const answer = await get(path);
      expect(answer.status, path).toBe(404);
      expect(answer.headers.get("cache-status")).toContain('detail="reserved-path"');
      await answer.text();
    }
    expect(await originHits("/__outpost/internal/variant/x")).toBe(0);
    expect(await originHits("/__outpost/anything")).toBe(0);
  });
});

describe("an origin's broken answer", () => {
  it("a GET that meets a connection another answer poisoned is sent once more, on a fresh one, and answered", async () => {
    // The bytes /overlong sends past its Content-Length are read as the next answer on that pooled
    // connection: the next request reaches the origin, then fails as unreadable. A GET is safe to
    // send again (RFC 9110 §9.2.2), and its client should not pay for another answer's bytes.
    await (await get("/overlong")).text();
    const victims = Array.from({ length: 4 }, (_, i) => `/unknown-after-overlong-${Date.now()}-${i}`);
    const statuses: number[] = [];
    for (const path of victims) {
      const answer = await get(path);
      await answer.text();
      statuses.push(answer.status);
    }
    expect(statuses).toEqual([404, 404, 404, 404]);
    const sent = await Promise.all(victims.map(originHits));
    expect(sent.every((n) => n === 1 || n === 2)).toBe(true);
  });
});

describe("Cloudflare's 52x for an origin it could not reach", () => {
  it("is a gateway failure: answered as ours (502, Cache-Status, Retry-After), counted, and ejected after the run", async () => {
    await setFault({ mode: "cloudflare", cloudflareStatus: 521 });
    const answers: Response[] = [];
    try {
      for (let i = 0; i < 3; i++) answers.push(await get(fresh("/nocache"), {}, "unreachable.test"));
    } finally {
      await setFault({ mode: "ok" });
    }
    const first = answers[0];
    expect(first.status).toBe(502);
    expect(first.headers.get("server")).not.toBe("cloudflare");
    expect(first.headers.get("cache-status")).toMatch(/Outpost-TST;fwd=uri-miss/);
    expect(first.headers.get("retry-after")).not.toBeNull();
    for (const answer of answers) await answer.text();
    const status = (await (await get("/__outpost/status", { headers: { authorization: `Bearer ${READ_TOKEN}` } }, "unreachable.test")).json()) as {
      origins: { originId: string; ejected: boolean }[];
    };
    expect(status.origins.find((o) => o.originId === "unreachable")?.ejected).toBe(true);
  });
});

describe("uploads", () => {
  it("an upload that stops arriving ends in 408, within its idle timeout", async () => {
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(new TextEncoder().encode("first bytes"));
        }
        // Then nothing: a client that went quiet.
        return new Promise(() => undefined);
      },
    });
    const started = Date.now();
    const answer = await get(fresh("/upload"), { method: "POST", body, headers: { "content-type": "text/plain" } });
    expect(answer.status).toBe(408);
    expect(answer.headers.get("cache-status")).toMatch(/detail="client-timeout"/);
    expect(Date.now() - started).toBeLessThan(5000);
    await answer.text();
  });
});

describe("decoding an origin's coding", () => {
  it("a decompression bomb ends in 502 with Cache-Status, and nothing is stored", async () => {
    for (let i = 0; i < 2; i++) {
      const answer = await get("/deflate-bomb");
      expect(answer.status).toBe(502);
      expect(answer.headers.get("cache-status")).toMatch(/detail="decode-limit"/);
      expect(answer.headers.get("retry-after")).not.toBeNull();
      await answer.text();
    }
  });
});

describe("the status page", () => {
  it("limits failed authentications per client address", async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 200 && !limited; i++) {
      const answer = await get("/__outpost/status", { headers: { authorization: "Bearer wrong", "cf-connecting-ip": "192.0.2.77" } });
      await answer.text();
      if (answer.status === 429) limited = answer;
      else expect(answer.status).toBe(401);
    }
    expect(limited?.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});
