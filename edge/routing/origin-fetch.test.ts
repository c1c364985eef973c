import { describe, expect, it } from "vitest";
import { OriginSchema } from "../../common/config";
import { fetchFromOrigins, type OriginFetchOptions } from "./origin-fetch";
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
