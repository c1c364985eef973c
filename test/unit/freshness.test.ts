import { describe, expect, it } from "vitest";
import { parseCacheControl } from "../../edge/http/cache-control";
import { correctedInitialAge, currentAge, freshnessLifetime } from "../../edge/http/freshness";
import { formatHttpDate, parseHttpDate } from "../../edge/http/dates";
import { governingDirectives } from "../../edge/http/targeted";

const now = Date.parse("2026-11-24T12:00:00Z");

function lifetime(status: number, init: Record<string, string>) {
  const headers = new Headers(init);
  return freshnessLifetime(status, headers, governingDirectives(headers).directives, now);
}

describe("freshnessLifetime", () => {
  it("prefers s-maxage to max-age to Expires", () => {
    expect(lifetime(200, { "cache-control": "max-age=10, s-maxage=20" })).toEqual({ lifetime: 20, source: "s-maxage" });
    expect(lifetime(200, { "cache-control": "max-age=10", expires: formatHttpDate(now + 99_000) }).lifetime).toBe(10);
    expect(lifetime(200, { date: formatHttpDate(now), expires: formatHttpDate(now + 30_000) }).lifetime).toBe(30);
  });
  it("takes an invalid Expires as already expired", () => {
    expect(lifetime(200, { expires: "0" })).toEqual({ lifetime: 0, source: "expires" });
  });
  it("gives no default TTL to a response without freshness information", () => {
    expect(lifetime(200, {})).toEqual({ lifetime: 0, source: "none" });
  });
  it("uses 10% of the Last-Modified age heuristically, only for heuristically cacheable statuses", () => {
    const lm = formatHttpDate(now - 1000_000);
    expect(lifetime(200, { date: formatHttpDate(now), "last-modified": lm })).toEqual({ lifetime: 100, source: "heuristic" });
    expect(lifetime(302, { date: formatHttpDate(now), "last-modified": lm }).lifetime).toBe(0);
  });
  it("lets CDN-Cache-Control govern over Cache-Control (RFC 9213)", () => {
    expect(lifetime(200, { "cache-control": "max-age=5", "cdn-cache-control": "max-age=600" }).lifetime).toBe(600);
    expect(lifetime(200, { "cdn-cache-control": "max-age=600", "outpost-cdn-cache-control": "max-age=7" }).lifetime).toBe(7);
  });
});

describe("age", () => {
  it("corrects the initial age with Age and the response delay", () => {
    const headers = new Headers({ age: "10", date: formatHttpDate(now - 2000) });
    expect(correctedInitialAge(headers, now - 1000, now)).toBe(11);
    expect(currentAge(11, now, now + 5000)).toBe(16);
  });
  it("ignores an invalid Age (negative, float, text) and reads a list by its first member", () => {
    for (const age of ["-20", "soon", "7200.0", "", ", 7200"]) {
      expect(correctedInitialAge(new Headers({ age }), now, now), age).toBe(0);
    }
    expect(correctedInitialAge(new Headers({ age: "0, 7200" }), now, now)).toBe(0);
    expect(correctedInitialAge(new Headers({ age: "7200, 0" }), now, now)).toBe(7200);
    expect(
      correctedInitialAge(
        new Headers([
          ["age", "3600"],
          ["age", "0"],
        ]),
        now,
        now,
      ),
    ).toBe(3600);
    expect(correctedInitialAge(new Headers({ age: "7200;foo=bar" }), now, now)).toBe(7200);
    expect(correctedInitialAge(new Headers({ age: "99999999999" }), now, now)).toBe(2147483648);
  });
});

describe("dates", () => {
  it("parses the three HTTP date formats", () => {
    const t = Date.parse("1994-11-06T08:49:37Z");
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(t);
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(t);
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994")).toBe(t);
    expect(parseHttpDate("yesterday")).toBeUndefined();
  });
});

describe("parse of request directives", () => {
  it("reads no-cache from a request", () => {
    expect(parseCacheControl("no-cache").noCache).toBe(true);
  });
});
