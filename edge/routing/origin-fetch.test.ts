import { describe, expect, it } from "vitest";
import { OriginSchema } from "../../common/config";
import { cloudflareFailure, fetchFromOrigins, type OriginFetchOptions } from "./origin-fetch";
import { OriginSlots } from "./origin-slots";
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

describe("an origin with as many requests waiting as it may (circuit breaking)", () => {
  /** A fetcher that answers from whichever host it is asked, recording the hosts, and slots refused for `full`. */
  function setup(full: string[], limit = 1) {
    const slots = new OriginSlots();
    const asked: string[] = [];
    const retriesAsked: number[] = [];
    for (const id of full) for (let i = 0; i < limit; i++) slots.take(id, limit);
    const fetcher = (async (url: string) => {
      const host = new URL(url).hostname;
      asked.push(host);
      // While the request waits, its slot is held.
      expect(slots.waitingOn(host.split(".")[0])).toBe(1);
      return new Response(`from ${host}`);
    }) as unknown as typeof fetch;
    const opts: OriginFetchOptions = {
      ...options("GET", fetcher),
      slotFor: (origin) => slots.take(origin.id, limit),
      mayRetry: () => {
        retriesAsked.push(1);
        return true;
      },
    };
    return { slots, asked, retriesAsked, opts };
  }

  it("is passed over for the next, untried, with no retry spent on it", async () => {
    const { slots, asked, retriesAsked, opts } = setup(["a"]);
    const result = await fetchFromOrigins(two, opts);
    expect(result.ok && (await result.response.text())).toBe("from b.test");
    expect(asked).toEqual(["b.test"]);
    expect(retriesAsked).toEqual([]);
    expect(result.attempts.map((a) => a.originId)).toEqual(["b"]);
    // The slot was given back once the status line came.
    expect(slots.waitingOn("b")).toBe(0);
  });

  it("ends the trip as overflow when every origin is full, asking none", async () => {
    const { asked, opts } = setup(["a", "b"]);
    expect(await fetchFromOrigins(two, opts)).toMatchObject({ ok: false, failure: "overflow", attempts: [] });
    expect(asked).toEqual([]);
  });

  it("never hides a real failure behind overflow, and gives a failed attempt's slot back", async () => {
    const slots = new OriginSlots();
    slots.take("b", 1);
    const origin = losingConnections();
    const result = await fetchFromOrigins(two, { ...options("GET", origin.fetcher), slotFor: (o) => slots.take(o.id, 1) });
    expect(result).toMatchObject({ ok: false, failure: "connect" });
    expect(slots.waitingOn("a")).toBe(0);
  });
});
