import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../common/config";
import { internalKey, isReservedPath, normalizeVaryValue, primaryKey, variantKey, varyFields } from "../../common/cache-key";
import { greatCircleKm } from "../../common/geo/geo";
import { rankOrigins } from "../../edge/routing/steering";
import { formatCacheStatus } from "../../edge/http/cache-status";

const config = parseConfig({
  origins: [
    { id: "us", url: "http://127.0.0.1:1", latitude: 39.04, longitude: -77.49 },
    { id: "eu", url: "http://127.0.0.1:2", latitude: 50.11, longitude: 8.68 },
    { id: "ap", url: "http://127.0.0.1:3", latitude: 1.35, longitude: 103.82 },
  ],
  sites: [{ id: "demo", hosts: ["localhost"], origins: ["us", "eu", "ap"] }],
});

describe("cache key", () => {
  it("drops tracking parameters and keeps the rest in order", () => {
    const key = primaryKey(new URL("http://LOCALHOST:8701/a?b=2&utm_source=x&a=1"), config.cache.key);
    expect(key).toBe("https://localhost/a?b=2&a=1");
  });
  it("normalizes Accept-Encoding to the coding we would choose", () => {
    expect(normalizeVaryValue("accept-encoding", "gzip, deflate, br;q=1")).toBe("br");
    expect(normalizeVaryValue("accept-encoding", "identity")).toBe("");
  });
  it("gives different variants different keys", () => {
    const fields = varyFields("Accept-Language, accept-language");
    expect(fields).toEqual(["accept-language"]);
    const a = variantKey("https://h/x", fields, new Headers({ "accept-language": "en" }));
    const b = variantKey("https://h/x", fields, new Headers({ "accept-language": "de" }));
    expect(a).not.toBe(b);
  });
  it("keeps internal keys on the zone's own host, under a path no client request is let near", () => {
    const variant = variantKey("https://h/x?outpost-variant=1", ["accept-language"], new Headers({ "accept-language": "en" }));
    expect(new URL(variant).hostname).toBe("h");
    expect(isReservedPath(new URL(variant).pathname)).toBe(true);
    const encoded = new URL(internalKey("encoded", ["br", "body-1"], "https://h/x"));
    expect(encoded.hostname).toBe("h");
    expect(isReservedPath(encoded.pathname)).toBe(true);
    // Spelled another way, a client's path still normalises onto the reserved prefix (and is refused).
    expect(isReservedPath("/%5F%5Foutpost/internal/variant/x")).toBe(true);
    expect(isReservedPath("/__outposts/x")).toBe(false);
    // A client asking for what used to be an internal key gets an ordinary key of its own host.
    const config = { sortQuery: false, ignoreQueryParams: [] };
    expect(primaryKey(new URL("https://h/x?outpost-variant=abc"), config)).toBe("https://h/x?outpost-variant=abc");
    expect(primaryKey(new URL("https://h/x?outpost-variant=abc"), config)).not.toBe(variant);
  });
});

describe("steering", () => {
  it("measures great-circle distance", () => {
    const km = greatCircleKm({ latitude: 39.04, longitude: -77.49 }, { latitude: 50.11, longitude: 8.68 });
    expect(km).toBeGreaterThan(6400);
    expect(km).toBeLessThan(6700);
  });
  it("ranks the nearest origin first", () => {
    const frankfurt = { latitude: 50.03, longitude: 8.56 };
    expect(rankOrigins(config.origins, frankfurt).map((r) => r.origin.id)).toEqual(["eu", "us", "ap"]);
    const singapore = { latitude: 1.36, longitude: 103.99 };
    expect(rankOrigins(config.origins, singapore)[0].origin.id).toBe("ap");
  });
  it("never picks a disabled or draining origin", () => {
    const origins = config.origins.map((o) => (o.id === "eu" ? { ...o, draining: true } : o));
    expect(rankOrigins(origins, { latitude: 50, longitude: 8 }).map((r) => r.origin.id)).not.toContain("eu");
  });
});

describe("config", () => {
  it("names each bad field", () => {
    try {
      parseConfig({ origins: [{ id: "a", url: "nope", latitude: 500, longitude: 0 }], sites: [{ id: "s", hosts: ["h"], origins: ["b"] }] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as ConfigError).problems.join("\n");
      expect(text).toContain("origins[0].url");
      expect(text).toContain("origins[0].latitude");
      expect(text).toContain("sites[0].origins[0]");
    }
  });
  it("rejects unknown fields", () => {
    expect(() => parseConfig({ ...config, colour: "red" })).toThrow(/colour|unrecognized/i);
  });
});

describe("Cache-Status", () => {
  it("formats RFC 9211 members", () => {
    expect(formatCacheStatus({ cache: "Outpost-FRA", hit: true, ttl: 57.9 })).toBe("Outpost-FRA;hit;ttl=57");
    expect(formatCacheStatus({ cache: "Outpost-FRA", fwd: "uri-miss", fwdStatus: 200, stored: true })).toBe("Outpost-FRA;fwd=uri-miss;fwd-status=200;stored");
  });
});

import { negotiateEncoding } from "../../edge/http/accept-encoding";
import { compressible, encodedEtag, encodedHeaders, frontMayEncode } from "../../edge/compress/policy";

describe("Accept-Encoding negotiation", () => {
  const all = ["br", "zstd", "gzip"] as const;
  it("prefers br and zstd over gzip on equal q, in our order, whatever the client's listing order", () => {
    // Chromium's header, and curl's as the issue had it.
    expect(negotiateEncoding("gzip, deflate, br, zstd", all)).toBe("br");
    expect(negotiateEncoding("gzip, br", all)).toBe("br");
    expect(negotiateEncoding("gzip, zstd", all)).toBe("zstd");
    expect(negotiateEncoding("gzip, deflate, br, zstd", ["zstd", "br", "gzip"])).toBe("zstd");
    expect(negotiateEncoding("zstd, gzip", all)).toBe("zstd");
    expect(negotiateEncoding("x-gzip", all)).toBe("gzip");
    expect(negotiateEncoding("*", all)).toBe("br");
  });
  it("follows q-values, *, and identity;q=0", () => {
    expect(negotiateEncoding("br;q=0.2, gzip;q=0.8", all)).toBe("gzip");
    expect(negotiateEncoding("br;q=0, *;q=0.5", all)).toBe("zstd");
    expect(negotiateEncoding("identity", all)).toBe("identity");
    expect(negotiateEncoding(null, all)).toBe("identity");
    expect(negotiateEncoding("deflate", all)).toBe("identity");
    expect(negotiateEncoding("identity;q=0", all)).toBe("not-acceptable");
    expect(negotiateEncoding("identity;q=0, gzip", all)).toBe("gzip");
    expect(negotiateEncoding("*;q=0", all)).toBe("not-acceptable");
    expect(negotiateEncoding("gzip;q=0.5, identity;q=1", all)).toBe("identity");
  });
});

describe("compression policy", () => {
  const cfg = config.compression;
  const text: [string, string][] = [
    ["content-type", "text/html; charset=utf-8"],
    ["etag", '"abc"'],
  ];
  it("compresses text of a worthwhile size, not images, encoded bodies or no-transform", () => {
    expect(compressible(text, 200, 5000, cfg)).toBe(true);
    expect(compressible(text, 200, 100, cfg)).toBe(false);
    expect(compressible([["content-type", "image/png"]], 200, 5000, cfg)).toBe(false);
    expect(compressible([...text, ["content-encoding", "gzip"]], 200, 5000, cfg)).toBe(false);
    expect(compressible([...text, ["cache-control", "public, no-transform"]], 200, 5000, cfg)).toBe(false);
    expect(compressible([["content-type", "image/svg+xml"]], 200, 5000, cfg)).toBe(true);
  });
  it("knows what the front compresses by itself: its text types, any size, 200, 403 and 404, never no-transform or encoded", () => {
    expect(frontMayEncode(text, 200)).toBe(true);
    expect(frontMayEncode([["content-type", "application/json"]], 404)).toBe(true);
    expect(frontMayEncode(text, 503)).toBe(false);
    expect(frontMayEncode([["content-type", "image/png"]], 200)).toBe(false);
    expect(frontMayEncode([["content-type", "application/x-custom"]], 200)).toBe(false);
    expect(frontMayEncode([...text, ["content-encoding", "zstd"]], 200)).toBe(false);
    expect(frontMayEncode([...text, ["cache-control", "public, no-transform"]], 200)).toBe(false);
  });
  it("gives an encoded variant its own ETag and Vary", () => {
    expect(encodedEtag('"abc"', "br")).toBe('"abc-br"');
    expect(encodedEtag('W/"abc"', "gzip")).toBe('W/"abc-gzip"');
    const h = new Headers(encodedHeaders([...text, ["vary", "Origin"], ["content-length", "5000"]], "br"));
    expect(h.get("content-encoding")).toBe("br");
    expect(h.get("vary")).toBe("Origin, Accept-Encoding");
    expect(h.get("content-length")).toBeNull();
  });
});
