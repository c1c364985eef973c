/** Compression on the wire, through a POP over real HTTP: the bytes a client gets. */
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { rawGet, startTestNetwork, unique } from "./helpers";

let network: Network;
beforeAll(async () => {
  network = await startTestNetwork();
});
afterAll(async () => {
  await network?.stop();
});

describe("compression on the wire", () => {
  it("sends stored br and gzip variants byte for byte, and identity to a client that asks for none", async () => {
    const fra = network.topology.pops[1].url;
    // At most 16 KiB: a variant that is not made again, better, behind the answer (the bytes stay the first's).
    const path = unique("/gen/16000?ttl=600");
    const identity = await rawGet(`${fra}${path}`, {});
    expect(identity.headers["content-encoding"]).toBeUndefined();
    expect(identity.body.byteLength).toBe(16000);

    const br = await rawGet(`${fra}${path}`, { "accept-encoding": "br, gzip" });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(br.body.byteLength).toBeLessThan(16000 / 2);
    expect(Buffer.compare(brotliDecompressSync(br.body), identity.body)).toBe(0);

    const brAgain = await rawGet(`${fra}${path}`, { "accept-encoding": "br" });
    expect(brAgain.headers["cache-status"]).toContain("hit");
    expect(Buffer.compare(brAgain.body, br.body)).toBe(0);

    const gz = await rawGet(`${fra}${path}`, { "accept-encoding": "gzip" });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(Buffer.compare(gunzipSync(gz.body), identity.body)).toBe(0);
  });

  it("sends br to curl's `gzip, br` and to Chromium's `gzip, deflate, br, zstd`, through production's kind of front", async () => {
    // Miniflare's own front re-encoded a br answer to the client's first-listed gzip; Cloudflare's
    // passes it through, and so does the local network's (scripts/cloudflare-front.ts).
    const fra = network.topology.pops[1].url;
    const path = unique("/gen/16000?ttl=600");
    const curl = await rawGet(`${fra}${path}`, { "accept-encoding": "gzip, br" });
    expect(curl.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(curl.body).byteLength).toBe(16000);
    const chromium = await rawGet(`${fra}${path}`, { "accept-encoding": "gzip, deflate, br, zstd" });
    expect(chromium.headers["cache-status"]).toContain("hit");
    expect(chromium.headers["content-encoding"]).toBe("br");
    // The stored variant's own bytes and length, not a re-encoding by the front.
    expect(Buffer.compare(chromium.body, curl.body)).toBe(0);
    expect(Number(chromium.headers["content-length"])).toBe(curl.body.byteLength);
  });

  it("text above compression.maxBytes leaves the POP identity and gets brotli from the front, as on Cloudflare", async () => {
    const fra = network.topology.pops[1].url;
    const big = await rawGet(`${fra}${unique("/gen/1500000?ttl=600")}`, { "accept-encoding": "gzip, deflate, br, zstd" });
    expect(big.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(big.body).byteLength).toBe(1_500_000);
    // Not the bytes the origin's strong validator names: the front weakens it, as Cloudflare's does.
    expect(big.headers.etag).toMatch(/^W\/"/);
  });

  it("text below compression.minBytes is compressed by the front alone, its strong ETag made weak", async () => {
    const fra = network.topology.pops[1].url;
    const path = unique("/gen/600?ttl=600");
    const plain = await rawGet(`${fra}${path}`, {});
    expect(plain.headers.etag).toMatch(/^"/);
    const small = await rawGet(`${fra}${path}`, { "accept-encoding": "gzip, br" });
    expect(small.headers["content-encoding"]).toBe("br");
    expect(small.headers.etag).toBe(`W/${plain.headers.etag}`);
    // A browser revalidates with what it got: weak comparison matches it (RFC 9110 §13.1.2).
    const again = await rawGet(`${fra}${path}`, { "accept-encoding": "gzip, br", "if-none-match": String(small.headers.etag) });
    expect(again.status).toBe(304);
  });

  it("uses zstd where the runtime has it and the client prefers it", async () => {
    const fra = network.topology.pops[1].url;
    const status = (await (await fetch(`${fra}/__outpost/status`, { headers: { authorization: `Bearer ${network.topology.control.token}` } })).json()) as { codings: string[] };
    if (!status.codings.includes("zstd")) return;
    const r = await rawGet(`${fra}${unique("/gen/20000?ttl=600")}`, { "accept-encoding": "zstd, gzip;q=0.5" });
    expect(r.headers["content-encoding"]).toBe("zstd");
    expect([...r.body.subarray(0, 4)]).toEqual([0x28, 0xb5, 0x2f, 0xfd]); // the zstd frame magic
  });
});
