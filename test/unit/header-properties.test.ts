/**
 * Property tests of the header parsers: arbitrary input never throws, never
 * yields a negative or NaN lifetime, and garbage never makes a response more
 * cacheable than its valid fields allow.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCacheControl } from "../../edge/http/cache-control";
import { correctedInitialAge, freshnessLifetime } from "../../edge/http/freshness";
import { parseHttpDate } from "../../edge/http/dates";
import { resolveRange } from "../../edge/http/range";
import { negotiateEncoding } from "../../edge/http/accept-encoding";
import { governingDirectives, parseCdnCacheControl } from "../../edge/http/targeted";
import { storeDecision } from "../../edge/http/storable";

const now = Date.parse("2026-11-25T12:00:00Z");
/** Header-ish text: printable ASCII with the characters parsers care about over-represented. */
const fieldValue = fc.stringMatching(/^[ -~]{0,80}$/);
const directiveSoup = fc
  .array(
    fc.constantFrom(
      "max-age",
      "s-maxage",
      "no-store",
      "no-cache",
      "private",
      "public",
      "=",
      ",",
      '"',
      "-1",
      "0",
      "3600",
      "1e3",
      " ",
      ";",
      "stale-if-error",
      "must-revalidate",
      "x",
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(""));
const anyField = fc.oneof(fieldValue, directiveSoup);

/** Header values that a Headers object accepts (no CR, LF or NUL). */
function headers(init: Record<string, string>): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(init)) h.set(k, v.replace(/[\r\n\0]/g, ""));
  return h;
}

describe("header parsers on arbitrary input", () => {
  it("Cache-Control and CDN-Cache-Control never throw, and every delta-seconds is a non-negative integer or invalid", () => {
    fc.assert(
      fc.property(anyField, (value) => {
        for (const d of [parseCacheControl(value), parseCdnCacheControl(value)]) {
          if (!d) continue;
          for (const v of [d.maxAge, d.sMaxAge, d.staleIfError, d.staleWhileRevalidate, d.minFresh]) {
            if (v === undefined || v === "invalid") continue;
            expect(Number.isInteger(v) && v >= 0).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("freshness and age are never negative or NaN, whatever Cache-Control, Expires, Date, Last-Modified and Age say", () => {
    fc.assert(
      fc.property(anyField, anyField, anyField, anyField, anyField, fc.constantFrom(200, 203, 301, 404, 500), (cc, expires, date, lm, age, status) => {
        const h = headers({ "cache-control": cc, expires, date, "last-modified": lm, age });
        const { lifetime } = freshnessLifetime(status, h, governingDirectives(h).directives, now);
        expect(Number.isFinite(lifetime) && lifetime >= 0).toBe(true);
        const initial = correctedInitialAge(h, now - 10, now);
        expect(Number.isFinite(initial) && initial >= 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("garbage beside a valid Cache-Control never makes a response storable that the valid fields alone forbid", () => {
    fc.assert(
      fc.property(fc.constantFrom("no-store", "private"), anyField, (forbidding, garbage) => {
        const h = headers({ "cache-control": `${forbidding}, ${garbage}` });
        const decision = storeDecision({
          method: "GET",
          status: 200,
          requestHeaders: new Headers(),
          requestDirectives: parseCacheControl(null),
          responseHeaders: h,
          responseDirectives: governingDirectives(h).directives,
        });
        // "private" followed by garbage may become private="…" field-qualified only if the garbage is its value, never public.
        if (forbidding === "no-store") expect(decision.store).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("dates, ranges and Accept-Encoding never throw and never yield impossible values", () => {
    fc.assert(
      fc.property(anyField, fc.integer({ min: 0, max: 10_000_000 }), (value, size) => {
        const date = parseHttpDate(value);
        if (date !== undefined) expect(Number.isFinite(date)).toBe(true);
        const range = resolveRange(value, size);
        if (range.kind === "partial") expect(range.start >= 0 && range.end < size && range.start <= range.end).toBe(true);
        const coding = negotiateEncoding(value, ["br", "zstd", "gzip"]);
        expect(["br", "zstd", "gzip", "identity", "not-acceptable"]).toContain(coding);
      }),
      { numRuns: 2000 },
    );
  });
});
