import { describe, expect, it } from "vitest";
import { OriginSchema } from "../../common/config";
import { cloudflareFailure, fetchFromOrigins, type OriginFetchOptions } from "./origin-fetch";
import type { RankedOrigin } from "./steering";

const only: RankedOrigin[] = [{ origin: OriginSchema.parse({ id: "a", url: "http://127.0.0.1:1", region: "r", latitude: 0, longitude: 0 }), distanceKm: 0 }];

function options(method: string, fetcher: typeof fetch): OriginFetchOptions {
  return { method, headers: new Headers(), body: null, timeoutMs: 1000, retries: 1, pathAndQuery: "/x", fetcher };
}

/** A fetcher that throws as the runtime does on a lost connection, counting the requests it was given. */
function losingConnections(): { fetcher: typeof fetch; sent: () => number } {
  let sent = 0;
  return {
    fetcher: async () => {
      sent++;
      throw new TypeError("Network connection lost.");
    },
    sent: () => sent,
  };
}

describe("fetchFromOrigins with one origin", () => {
  it("sends a GET once more on a lost connection (often a pooled one the origin had just closed)", async () => {
    const origin = losingConnections();
    expect(await fetchFromOrigins(only, options("GET", origin.fetcher))).toMatchObject({ ok: false, failure: "connect" });
    expect(origin.sent()).toBe(2);
  });
  it("never sends a DELETE to the same origin twice: it may have acted on the first", async () => {
    const origin = losingConnections();
    expect(await fetchFromOrigins(only, options("DELETE", origin.fetcher))).toMatchObject({ ok: false, failure: "connect" });
    expect(origin.sent()).toBe(1);
  });
});

const two: RankedOrigin[] = ["a", "b"].map((id) => ({ origin: OriginSchema.parse({ id, url: `http://${id}.test`, region: "r", latitude: 0, longitude: 0 }), distanceKm: 0 }));

describe("the request to the origin", () => {
  it("bypasses the zone's own cache (Request.cache no-store), which our purges do not reach", async () => {
    const seen: RequestInit[] = [];
    const fetcher = (async (_url: string, init: RequestInit) => {
      seen.push(init);
      return new Response("ok");
    }) as unknown as typeof fetch;
    await fetchFromOrigins(only, options("GET", fetcher));
    expect((seen[0] as { cache?: string }).cache).toBe("no-store");
  });
});

describe("Cloudflare's 52x answers for an origin it could not reach", () => {
  it("are failures: a 521 or 522 from one origin goes on to the next", async () => {
    for (const status of [521, 522, 523, 530]) {
      const asked: string[] = [];
      const fetcher = (async (url: string) => {
        asked.push(new URL(url).hostname);
        return url.includes("a.test") ? new Response("error code", { status }) : new Response("from b");
      }) as unknown as typeof fetch;
      const result = await fetchFromOrigins(two, options("GET", fetcher));
      expect(result.ok && (await result.response.text())).toBe("from b");
      expect(asked).toEqual(["a.test", "b.test"]);
      expect(result.attempts[0]).toMatchObject({ originId: "a", outcome: "connect", status });
    }
  });

  it("tell a refused connection (retried on the same origin) from one that took the request (524, not)", () => {
    expect(cloudflareFailure(521)).toBe("connect");
    expect(cloudflareFailure(524)).toBe("timeout");
    expect(cloudflareFailure(520)).toBe("timeout");
    expect(cloudflareFailure(503)).toBeUndefined();
    expect(cloudflareFailure(599)).toBeUndefined();
  });
});
