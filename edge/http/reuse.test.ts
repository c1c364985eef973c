/** RFC 9111 §4 and RFC 5861: when a stored response may answer, as reuseDecision and staleIfErrorAllows decide. */
import { describe, expect, it } from "vitest";
import { parseCacheControl } from "./cache-control";
import { reuseDecision, staleIfErrorAllows, type StoredFreshness } from "./reuse";

const T0 = 1_800_000_000_000;
const entry = (over: Partial<StoredFreshness> = {}): StoredFreshness => ({
  initialAge: 0,
  responseTime: T0,
  freshness: 60,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  mustRevalidate: false,
  noCache: false,
  ...over,
});
const at = (seconds: number) => T0 + seconds * 1000;
const none = parseCacheControl(null);

describe("reuseDecision", () => {
  it("serves a fresh entry with its age and remaining lifetime", () => {
    expect(reuseDecision(entry(), none, false, at(10))).toEqual({ kind: "fresh", age: 10, ttl: 50 });
  });

  it("counts the age the response arrived with (corrected initial age)", () => {
    expect(reuseDecision(entry({ initialAge: 55 }), none, false, at(10))).toMatchObject({ kind: "validate", reason: "stale" });
  });

  it("serves stale within stale-while-revalidate, revalidating behind the response", () => {
    expect(reuseDecision(entry({ staleWhileRevalidate: 30 }), none, false, at(70))).toMatchObject({ kind: "stale-serve", revalidate: true });
    expect(reuseDecision(entry({ staleWhileRevalidate: 30 }), none, false, at(95))).toMatchObject({ kind: "validate", reason: "stale" });
  });

  it("never serves stale what must be revalidated, whatever the client allows", () => {
    const maxStale = parseCacheControl("max-stale=600");
    expect(reuseDecision(entry({ mustRevalidate: true, staleWhileRevalidate: 30 }), maxStale, false, at(70))).toMatchObject({ kind: "validate" });
    expect(reuseDecision(entry({ impliedRevalidate: true }), maxStale, false, at(70))).toMatchObject({ kind: "validate" });
  });

  it("takes the client's max-stale, but no revalidation behind it", () => {
    expect(reuseDecision(entry(), parseCacheControl("max-stale=20"), false, at(70))).toMatchObject({ kind: "stale-serve", revalidate: false });
    expect(reuseDecision(entry(), parseCacheControl("max-stale"), false, at(7000))).toMatchObject({ kind: "stale-serve" });
  });

  it("goes forward for the client's no-cache, max-age and min-fresh, and for a no-cache entry", () => {
    expect(reuseDecision(entry(), parseCacheControl("no-cache"), false, at(1))).toMatchObject({ kind: "validate", reason: "request" });
    expect(reuseDecision(entry(), parseCacheControl("max-age=5"), false, at(10))).toMatchObject({ kind: "validate", reason: "request" });
    expect(reuseDecision(entry(), parseCacheControl("min-fresh=55"), false, at(10))).toMatchObject({ kind: "validate", reason: "request" });
    expect(reuseDecision(entry({ noCache: true }), none, false, at(1))).toMatchObject({ kind: "validate", reason: "stale" });
    // Pragma: no-cache counts only without a Cache-Control of the request's own.
    expect(reuseDecision(entry(), none, true, at(1))).toMatchObject({ kind: "validate", reason: "request" });
    expect(reuseDecision(entry(), parseCacheControl("max-stale=1"), true, at(1))).toMatchObject({ kind: "fresh" });
  });
});

describe("staleIfErrorAllows", () => {
  it("allows the response's own window or the site's default, and never for must-revalidate or no-cache", () => {
    expect(staleIfErrorAllows(entry({ staleIfError: 100 }), 0, at(150))).toBe(true);
    expect(staleIfErrorAllows(entry(), 50, at(150))).toBe(false);
    expect(staleIfErrorAllows(entry(), 500, at(150))).toBe(true);
    expect(staleIfErrorAllows(entry({ mustRevalidate: true }), 500, at(150))).toBe(false);
    expect(staleIfErrorAllows(entry({ noCache: true }), 500, at(10))).toBe(false);
    // s-maxage: only the response's own window counts.
    expect(staleIfErrorAllows(entry({ impliedRevalidate: true }), 500, at(150))).toBe(false);
  });
});
