import { describe, expect, it } from "vitest";
import { parseCacheControl } from "../../edge/http/cache-control";
import { storeDecision } from "../../edge/http/storable";

function decide(status: number, response: Record<string, string>, request: Record<string, string> = {}, method = "GET") {
  const requestHeaders = new Headers(request);
  const responseHeaders = new Headers(response);
  return storeDecision({
    method,
    status,
    requestHeaders,
    requestDirectives: parseCacheControl(requestHeaders.get("cache-control")),
    responseHeaders,
    responseDirectives: parseCacheControl(responseHeaders.get("cache-control")),
  });
}

describe("storeDecision", () => {
  it("stores a fresh 200", () => expect(decide(200, { "cache-control": "max-age=60" }).store).toBe(true));
  it("refuses no-store, private, Set-Cookie and Vary: *", () => {
    expect(decide(200, { "cache-control": "no-store, max-age=60" })).toEqual({ store: false, reason: "no-store" });
    expect(decide(200, { "cache-control": "private, max-age=60" })).toEqual({ store: false, reason: "private" });
    expect(decide(200, { "cache-control": "max-age=60", "set-cookie": "a=1" })).toEqual({ store: false, reason: "set-cookie" });
    expect(decide(200, { "cache-control": "max-age=60", vary: "*" })).toEqual({ store: false, reason: "vary-star" });
  });
  it("refuses requests with Authorization unless the response allows sharing", () => {
    expect(decide(200, { "cache-control": "max-age=60" }, { authorization: "Bearer x" }).store).toBe(false);
    expect(decide(200, { "cache-control": "s-maxage=60" }, { authorization: "Bearer x" }).store).toBe(true);
  });
  it("refuses other methods and partial content", () => {
    expect(decide(200, { "cache-control": "max-age=60" }, {}, "POST").store).toBe(false);
    expect(decide(206, { "cache-control": "max-age=60" }).store).toBe(false);
  });
  it("stores a validator-only response for revalidation, but not one with nothing", () => {
    expect(decide(200, { etag: '"a"' }).store).toBe(true);
    expect(decide(200, {}).store).toBe(false);
  });
});
