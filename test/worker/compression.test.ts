/**
 * Edge compression inside workerd: negotiation, stored variants, validators
 * and ranges. SELF.fetch decodes br and gzip bodies as a browser would; the
 * end-to-end test checks the bytes on the wire.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { READ_TOKEN } from "./env";

let unique = 0;
const fresh = (path: string) => `${path}${path.includes("?") ? "&" : "?"}n=cmp-${Date.now()}-${++unique}`;
const get = (path: string, headers: Record<string, string> = {}) => SELF.fetch(`http://cdn.test${path}`, { headers });
const bytes = async (r: Response) => new Uint8Array(await r.arrayBuffer());
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function compressions(): Promise<number> {
  const status = (await (await get("/__outpost/status", { authorization: `Bearer ${READ_TOKEN}` })).json()) as { counters: { compressions: number } };
  return status.counters.compressions;
}

describe("compression", () => {
  it("says text below compression.minBytes varies on Accept-Encoding to a client the front compresses it for", async () => {
    const path = fresh("/gen/600?ttl=600");
    // The POP sends it identity; Cloudflare's front brotli-encodes it for this client.
    const forBrotli = await get(path, { "accept-encoding": "br, gzip" });
    expect(forBrotli.headers.get("content-encoding")).toBeNull();
    expect(forBrotli.headers.get("vary")).toMatch(/Accept-Encoding/);
    await forBrotli.arrayBuffer();
    // Identity to a client that takes no coding: safe for any cache to give anyone, as the origin sent it.
    const plain = await get(path, { "accept-encoding": "identity" });
    expect(plain.headers.get("vary")).toBeNull();
    await plain.arrayBuffer();
    const image = await get("/images/photo.png", { "accept-encoding": "br, gzip" });
    expect(image.headers.get("vary") ?? "").not.toMatch(/Accept-Encoding/);
    await image.arrayBuffer();
  });

  it("sends br to a client that accepts it, compressing once and serving the stored variant after", async () => {
    // At most 16 KiB: a variant that is not made again behind the answer (see the next test).
    const path = fresh("/gen/12000?ttl=600");
    const identity = text(await bytes(await get(path)));
    const before = await compressions();
    const first = await get(path, { "accept-encoding": "br, gzip, deflate" });
    expect(first.headers.get("content-encoding")).toBe("br");
    expect(first.headers.get("vary")).toMatch(/Accept-Encoding/);
    expect(first.headers.get("etag")).toMatch(/-br"$/);
    expect(text(await bytes(first))).toBe(identity);
    expect(await compressions()).toBe(before + 1);
    const again = await get(path, { "accept-encoding": "br" });
    expect(again.headers.get("cache-status")).toContain("hit");
    expect(text(await bytes(again))).toBe(identity);
    expect(await compressions()).toBe(before + 1);
  });

  it("makes zstd variants of text whose zstd passes 64 KB, in the request and behind it (workerd's own zstd stops there)", async () => {
    for (const size of [600_000, 3_000_000]) {
      const path = fresh(`/gen/${size}?ttl=600`);
      await (await get(path)).arrayBuffer();
      let answer = await get(path, { "accept-encoding": "zstd" });
      // Past compression.maxBytes the variant is made behind the first answer (identity): asked again, it is there.
      for (let i = 0; i < 100 && answer.headers.get("content-encoding") !== "zstd"; i++) {
        await answer.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 50));
        answer = await get(path, { "accept-encoding": "zstd" });
      }
      expect(answer.headers.get("content-encoding"), `${size} B`).toBe("zstd");
      const body = await bytes(answer);
      expect([...body.subarray(0, 4)]).toEqual([0x28, 0xb5, 0x2f, 0xfd]);
      expect(body.byteLength, `${size} B`).toBeGreaterThan(64 * 1024);
    }
  });

  it("makes a variant past 16 KiB again behind the answer, at the background levels, and serves that one after", async () => {
    const path = fresh("/gen/200000?ttl=600");
    const identity = text(await bytes(await get(path)));
    const before = await compressions();
    const first = await get(path, { "accept-encoding": "br" });
    expect(first.headers.get("content-encoding")).toBe("br");
    expect(text(await bytes(first))).toBe(identity);
    // The quick one in the request, the settled one behind it.
    for (let i = 0; i < 100 && (await compressions()) < before + 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await compressions()).toBe(before + 2);
    const settled = await get(path, { "accept-encoding": "br" });
    expect(settled.headers.get("cache-status")).toContain("hit");
    expect(settled.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(text(await bytes(settled))).toBe(identity);
    expect(await compressions()).toBe(before + 2);
  });

  it("compresses text past compression.maxBytes in the background, once, and serves the stored variant after", async () => {
    const path = fresh("/gen/3000000?ttl=600");
    const identity = await bytes(await get(path));
    expect(identity.byteLength).toBe(3_000_000);
    const before = await compressions();
    // The first client that accepts br gets identity (with Vary) while the variant is made after the answer.
    const first = await get(path, { "accept-encoding": "br" });
    expect(first.headers.get("content-encoding")).toBeNull();
    expect(first.headers.get("vary")).toMatch(/Accept-Encoding/);
    expect((await bytes(first)).byteLength).toBe(3_000_000);
    let encoded: Response | undefined;
    for (let i = 0; i < 100 && !encoded; i++) {
      const r = await get(path, { "accept-encoding": "br" });
      if (r.headers.get("content-encoding") === "br") encoded = r;
      else {
        await r.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect(encoded, "a br variant within 5 s").toBeDefined();
    expect(encoded!.headers.get("etag")).toMatch(/-br"$/);
    // SELF.fetch decodes br: the bytes are the identity body's.
    expect(Buffer.compare(Buffer.from(await bytes(encoded!)), Buffer.from(identity))).toBe(0);
    expect(await compressions()).toBe(before + 1);
  });

  it("negotiates gzip and identity by q-values", async () => {
    const path = fresh("/gen/5000?ttl=600");
    const gz = await get(path, { "accept-encoding": "br;q=0.1, gzip" });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    expect((await bytes(gz)).byteLength).toBe(5000);
    const plain = await get(path, { "accept-encoding": "identity" });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(plain.headers.get("vary")).toMatch(/Accept-Encoding/);
    expect((await bytes(plain)).byteLength).toBe(5000);
  });

  it("leaves images, small bodies and no-transform alone", async () => {
    for (const path of [
      "/images/photo.png",
      fresh("/gen/200?ttl=600"),
      fresh(`/headers?cache-control=${encodeURIComponent("max-age=60, no-transform")}&content-type=text/plain&pad=${"x".repeat(10)}`),
    ]) {
      const r = await get(path, { "accept-encoding": "br, gzip" });
      expect(r.headers.get("content-encoding"), path).toBeNull();
      await r.arrayBuffer();
    }
  });

  it("keeps validators and ranges per encoded representation", async () => {
    const path = fresh("/gen/30000?ttl=600");
    const first = await get(path, { "accept-encoding": "gzip" });
    const etag = first.headers.get("etag")!;
    await first.arrayBuffer();
    const notModified = await get(path, { "accept-encoding": "gzip", "if-none-match": etag });
    expect(notModified.status).toBe(304);
    const identityEtag = etag.replace(/-gzip"$/, '"');
    const full = await get(path, { "accept-encoding": "gzip", "if-none-match": identityEtag });
    expect(full.status).toBe(200);
    await full.arrayBuffer();
    const partial = await get(path, { "accept-encoding": "gzip", range: "bytes=0-9" });
    expect(partial.status).toBe(206);
    // The range applies to the encoded bytes (RFC 9110 §14.1.2): far fewer than the 30000 identity ones.
    expect(partial.headers.get("content-range")).toMatch(/^bytes 0-9\/(\d+)$/);
    expect(Number(/\/(\d+)$/.exec(partial.headers.get("content-range")!)![1])).toBeLessThan(30000);
    await partial.body?.cancel();
  });

  it("stores what a compressing origin sends as identity, and serves each client its own coding", async () => {
    const plain = await get("/precompressed.txt", { "accept-encoding": "identity" });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect((await bytes(plain)).byteLength).toBe(8192);
    const br = await get("/precompressed.txt", { "accept-encoding": "br" });
    expect(br.headers.get("content-encoding")).toBe("br");
    expect((await bytes(br)).byteLength).toBe(8192);
  });
});

describe("compression of an answer not stored", () => {
  // Not stored, it goes out by the runtime's own stream (the guard's pump): whatever coding the
  // runtime puts on it, the client must decode every byte, with its length known or chunked.
  it.each([
    { framing: "with its length", query: "" },
    { framing: "chunked", query: "&chunked=1" },
  ])("decodes to the origin's bytes ($framing)", async ({ query }) => {
    const path = fresh(`/gen/700000?ttl=0${query}`);
    const identity = await get(path, { "accept-encoding": "identity" });
    const wanted = text(await bytes(identity));
    expect(wanted.length).toBe(700_000);
    const encoded = await get(path, { "accept-encoding": "gzip, br" });
    expect(encoded.status).toBe(200);
    expect(text(await bytes(encoded))).toBe(wanted);
  });
});
