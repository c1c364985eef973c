/**
 * A cache we did not write, downstream of a POP: nginx's proxy_cache, as a
 * company's proxy or a second CDN layer would sit there. It keeps answers by
 * their Vary, so each client must still get bytes it can read: text the
 * front compressed for one client (Cloudflare's front compresses identity
 * text of any size itself) must not reach the next one, which asked for none.
 */
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CompressionSchema } from "../../common/cache-config";
import type { Network } from "../../scripts/network";
import { freePort } from "../../scripts/free-port";
import { rawGet, startTestNetwork, unique } from "./helpers";
import { NGINX, nginxConfig, startNginx, stopNginx } from "./nginx";

if (!NGINX) console.warn("downstream cache test skipped: no nginx (apt-get install nginx)");

/** compression.minBytes, its default: from there we make variants, and every answer says Vary. */
const MIN_BYTES = CompressionSchema.parse({}).minBytes;

let dir: string;
let port: number;
let server: ChildProcess | undefined;
let network: Network | undefined;

/** nginx caching what the POP lets it, as its defaults do (Cache-Control, Vary). */
function downstreamConfig(popUrl: string): string {
  return nginxConfig(
    dir,
    `
  access_log off;
  proxy_cache_path ${dir}/cache keys_zone=downstream:1m;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass ${popUrl};
      proxy_http_version 1.1;
      proxy_cache downstream;
      add_header X-Downstream $upstream_cache_status;
    }
  }`,
  );
}

beforeAll(async () => {
  if (!NGINX) return;
  network = await startTestNetwork();
  dir = mkdtempSync(join(tmpdir(), "outpost-downstream-"));
  // nginx's workers may run as another user than its master: they write the cache here.
  chmodSync(dir, 0o777);
  port = await freePort();
  writeFileSync(join(dir, "nginx.conf"), downstreamConfig(network.topology.pops[1].url));
  server = await startNginx(dir, "nginx.conf", `http://127.0.0.1:${port}/index.html`);
}, 120_000);
afterAll(async () => {
  await stopNginx(server);
  await network?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!NGINX)("nginx's proxy_cache downstream of a POP", () => {
  // Below compression.minBytes (the front compresses it, not the POP), a stored variant's size, and past compression.maxBytes.
  it.each([600, 16_000, 1_500_000])("gives a client that asked for no coding identity text, after one that took brotli (%i bytes)", async (size) => {
    const path = unique(`/gen/${size}?ttl=600`);
    const br = await rawGet(`http://127.0.0.1:${port}${path}`, { "accept-encoding": "br" });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(br.headers.vary).toMatch(/Accept-Encoding/i);
    const identity = await rawGet(`http://127.0.0.1:${port}${path}`, {});
    expect(identity.headers["content-encoding"]).toBeUndefined();
    expect(identity.body.byteLength).toBe(size);
    expect(Buffer.compare(brotliDecompressSync(br.body), identity.body)).toBe(0);
    // Each answer says the same Vary when we make variants of it, so nginx keeps both codings. Below
    // compression.minBytes only the front compresses, and only for a client that takes a coding: an
    // identity answer to one that takes none says nothing, and nginx may keep that for everyone,
    // which any client can read (RFC 9110 §12.5.5 asks no more; the suite's Vary tests want the
    // origin's Vary untouched there).
    const again = await rawGet(`http://127.0.0.1:${port}${path}`, { "accept-encoding": "br" });
    if (size >= MIN_BYTES) {
      expect(again.headers["x-downstream"]).toBe("HIT");
      expect(again.headers["content-encoding"]).toBe("br");
    }
    const readable = again.headers["content-encoding"] === "br" ? brotliDecompressSync(again.body) : again.body;
    expect(Buffer.compare(readable, identity.body)).toBe(0);
  });
});
