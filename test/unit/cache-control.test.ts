import { describe, expect, it } from "vitest";
import { parseCacheControl, secondsOf, splitListField } from "../../edge/http/cache-control";

describe("parseCacheControl", () => {
  it("reads delta-seconds, flags and quoted values", () => {
    const cc = parseCacheControl('public, max-age=60, s-maxage="120", stale-while-revalidate=30');
    expect(cc.public).toBe(true);
    expect(secondsOf(cc.maxAge)).toBe(60);
    expect(secondsOf(cc.sMaxAge)).toBe(120);
    expect(secondsOf(cc.staleWhileRevalidate)).toBe(30);
  });
  it("keeps the first of duplicate directives", () => {
    expect(secondsOf(parseCacheControl("max-age=10, max-age=99").maxAge)).toBe(10);
  });
  it("treats a garbage max-age as stale, never as fresh", () => {
    expect(secondsOf(parseCacheControl("max-age=abc").maxAge)).toBe(0);
    expect(secondsOf(parseCacheControl("max-age=-5").maxAge)).toBe(0);
  });
  it("caps huge values at 2^31", () => {
    expect(secondsOf(parseCacheControl("max-age=99999999999999999999").maxAge)).toBe(2147483648);
  });
  it("survives empty and odd input", () => {
    expect(parseCacheControl(null).noStore).toBe(false);
    expect(parseCacheControl(",,, ;=").noStore).toBe(false);
    expect(parseCacheControl("NO-STORE").noStore).toBe(true);
  });
  it("splits lists without breaking quoted commas", () => {
    expect(splitListField('a, b="x,y", c')).toEqual(["a", 'b="x,y"', "c"]);
  });
});
