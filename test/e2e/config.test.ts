/**
 * The configuration past Cloudflare's 5 KB a variable: put to the control
 * plane (PUT /v1/config), validated, held as rows, and run by every POP
 * isolate from its next sync; OUTPOST_CONFIG only bootstraps.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "undici";
import { loadNetworkConfig } from "../../scripts/network-config";
import { ROOT, type Network } from "../../scripts/network";
import { startTestNetwork, unique, waitFor } from "./helpers";

let network: Network;
beforeAll(async () => {
  // The network file's own fields for an origin reach the configuration the POPs run.
  const file = loadNetworkConfig(join(ROOT, "outpost.config.json"));
  file.basePort = 0;
  file.origins = file.origins.map((o) => (o.id === "us-east" ? { ...o, maxRequests: 7 } : o));
  network = await startTestNetwork({ config: file, configOverrides: { shield: { enabled: false } } });
});
afterAll(async () => {
  await network?.stop();
});

const control = (path: string, init: RequestInit = {}) =>
  fetch(`${network.topology.control.url}${path}`, { ...init, headers: { authorization: `Bearer ${network.topology.control.token}`, "content-type": "application/json" } });

/** A request to FRA for `host` (the front takes the Host field as the URL's host, as Cloudflare does). */
async function atFra(host: string, path: string): Promise<{ status: number; origin: string | undefined }> {
  const fra = new URL(network.topology.pops.find((p) => p.colo === "FRA")!.url);
  const answer = await request(`${fra.origin}${path}`, { headers: { host } });
  await answer.body.arrayBuffer();
  return { status: answer.statusCode, origin: [answer.headers["x-origin-id"]].flat()[0] };
}

describe("the network file", () => {
  it("gives an origin its own request limit", async () => {
    const running = (await (await control("/v1/config")).json()) as { config: { origins: { id: string; maxRequests?: number }[] } };
    expect(running.config.origins.find((o) => o.id === "us-east")?.maxRequests).toBe(7);
    expect(running.config.origins.find((o) => o.id === "eu-central")?.maxRequests).toBeUndefined();
  });
});

describe("a configuration held by the control plane", () => {
  it("runs at every POP once put, past the 5 KB a variable holds", async () => {
    expect(await (await control("/v1/config")).json()).toMatchObject({ version: 0, source: "variable" });
    expect((await atFra("shop.example", "/index.html")).status).toBe(421);

    const bad = await control("/v1/config", {
      method: "PUT",
      body: JSON.stringify({ ...network.outpostConfig, sites: [{ id: "x", hosts: ["x.example"], origins: ["nowhere"] }] }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain("nowhere");

    const hosts = ["shop.example", ...Array.from({ length: 300 }, (_, i) => `store-${i}.shop.example`)];
    const origins = network.outpostConfig.origins.map((o) => o.id);
    const config = { ...network.outpostConfig, sites: [...(network.outpostConfig.sites ?? []), { id: "shop", hosts, origins }] };
    expect(JSON.stringify(config).length).toBeGreaterThan(5 * 1024);
    const put = await control("/v1/config", { method: "PUT", body: JSON.stringify(config) });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ version: 1 });

    // Both of FRA's isolates take it at their next sync (their held syncs are answered at once).
    for (let i = 0; i < 2; i++) {
      const served = await waitFor("FRA to serve the new site", async () => {
        const answer = await atFra("store-7.shop.example", unique("/api/products.json"));
        return answer.status === 200 ? answer : undefined;
      });
      expect(served.origin).toBe("eu-central");
    }
    const held = (await (await control("/v1/config")).json()) as { version: number; source: string; config: { sites: { id: string }[] } };
    expect(held).toMatchObject({ version: 1, source: "control plane" });
    expect(held.config.sites.map((s) => s.id)).toContain("shop");
    // The control API runs it too: a purge for the new host is accepted.
    const purge = await control("/v1/purge", { method: "POST", body: JSON.stringify({ files: ["http://shop.example/index.html"] }) });
    expect(purge.status).toBe(200);
  });
});
