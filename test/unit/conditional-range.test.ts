import { describe, expect, it } from "vitest";
import { evaluatePreconditions } from "../../edge/http/conditional";
import { ifRangeAllowsPartial, resolveRange } from "../../edge/http/range";

const stored = new Headers({ etag: '"v1"', "last-modified": "Sun, 06 Nov 1994 08:49:37 GMT" });

describe("evaluatePreconditions", () => {
  it("answers If-None-Match with 304 on a weak match", () => {
    expect(evaluatePreconditions("GET", new Headers({ "if-none-match": 'W/"v1"' }), stored)).toBe("not-modified");
    expect(evaluatePreconditions("GET", new Headers({ "if-none-match": '"v2"' }), stored)).toBe("proceed");
  });
  it("fails If-Match on a different tag", () => {
    expect(evaluatePreconditions("GET", new Headers({ "if-match": '"v2"' }), stored)).toBe("precondition-failed");
  });
  it("uses If-Modified-Since only without If-None-Match", () => {
    const ims = new Headers({ "if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT" });
    expect(evaluatePreconditions("GET", ims, stored)).toBe("not-modified");
    ims.set("if-none-match", '"other"');
    expect(evaluatePreconditions("GET", ims, stored)).toBe("proceed");
  });
});

describe("resolveRange", () => {
  it("serves one range, a suffix, and an open end", () => {
    expect(resolveRange("bytes=0-9", 100)).toEqual({ kind: "partial", start: 0, end: 9 });
    expect(resolveRange("bytes=-10", 100)).toEqual({ kind: "partial", start: 90, end: 99 });
    expect(resolveRange("bytes=95-", 100)).toEqual({ kind: "partial", start: 95, end: 99 });
  });
  it("answers unsatisfiable ranges and ignores invalid ones", () => {
    expect(resolveRange("bytes=100-", 100)).toEqual({ kind: "unsatisfiable" });
    expect(resolveRange("bytes=9-1", 100)).toEqual({ kind: "full" });
    expect(resolveRange("items=0-1", 100)).toEqual({ kind: "full" });
  });
  it("honours If-Range only with a strong match", () => {
    expect(ifRangeAllowsPartial('"v1"', stored)).toBe(true);
    expect(ifRangeAllowsPartial('W/"v1"', stored)).toBe(false);
  });
});
