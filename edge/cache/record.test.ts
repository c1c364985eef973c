/** Entry metadata from origin responses, and the response a 304 makes of a stored one (RFC 9111 §3, §4.3.4). */
import { describe, expect, it } from "vitest";
import { buildEntryMeta, freshenWithNotModified, updatedByNotModified } from "./record";

const T0 = 1_800_000_000_000;
const meta = (headers: Record<string, string>) =>
  buildEntryMeta({ key: "https://cdn.test/a", status: 200, headers: new Headers(headers), requestTime: T0 - 100, responseTime: T0, size: 10, originId: "o" });

describe("buildEntryMeta", () => {
  it("keeps what governs reuse: lifetime, stale windows, revalidation, tags", () => {
    const m = meta({ "cache-control": "max-age=60, stale-while-revalidate=30, stale-if-error=300", "cache-tag": "a,b", etag: '"1"' });
    expect(m).toMatchObject({ freshness: 60, staleWhileRevalidate: 30, staleIfError: 300, mustRevalidate: false, noCache: false, tags: ["a", "b"] });
    expect(meta({ "cache-control": "s-maxage=10, max-age=60" })).toMatchObject({ freshness: 10, impliedRevalidate: true });
  });

  it('stores no per-hop, per-message or internal field, nor what private="f" names', () => {
    const m = meta({
      "cache-control": 'max-age=60, private="x-user"',
      "x-user": "alice",
      "set-cookie": "a=1",
      connection: "close",
      age: "5",
      "x-outpost-meta": "x",
      "x-kept": "1",
    });
    const names = m.headers.map(([name]) => name);
    expect(names).toContain("x-kept");
    for (const gone of ["x-user", "set-cookie", "connection", "age", "x-outpost-meta"]) expect(names).not.toContain(gone);
  });
});

describe("a 304's update", () => {
  const stored = meta({ "cache-control": "max-age=0", etag: '"v1"', "content-length": "10", "x-stamp": "1" });

  it("replaces the stored fields with the 304's, but never the validator, the framing or the tiers' own", () => {
    const updated = updatedByNotModified(
      stored,
      new Headers({ "x-stamp": "2", etag: '"other"', "content-length": "99", "x-outpost-shield-answer": "n", "cache-control": "max-age=60" }),
    );
    expect(updated.get("x-stamp")).toBe("2");
    expect(updated.get("etag")).toBe('"v1"');
    expect(updated.get("content-length")).toBe("10");
    expect(updated.get("x-outpost-shield-answer")).toBeNull();
    const freshened = freshenWithNotModified(stored, updated, T0 + 1000, T0 + 1100);
    expect(freshened).toMatchObject({ freshness: 60, responseTime: T0 + 1100, bodyId: stored.bodyId });
  });

  it("carries what the storability decision must see: private, Set-Cookie (every one)", () => {
    const notModified = new Headers({ "cache-control": "private, max-age=60" });
    notModified.append("set-cookie", "a=1");
    notModified.append("set-cookie", "b=2");
    const updated = updatedByNotModified(stored, notModified);
    expect(updated.get("cache-control")).toBe("private, max-age=60");
    expect([...updated].filter(([name]) => name === "set-cookie").map(([, value]) => value)).toEqual(["a=1", "b=2"]);
  });
});
