/**
 * The local CDN end to end: four POPs (Miniflare, own cf geography), three
 * origin processes, the control plane; plain HTTP on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { originRequests, setFault, startTestNetwork, unique, waitFor } from "./helpers";

let network: Network;
beforeAll(async () => {
  // Steering as each POP does it: misses go to origins directly (test/e2e/shield.test.ts covers the upper tier).
  network = await startTestNetwork({ configOverrides: { shield: { enabled: false } } });
});
afterAll(async () => {
  await network?.stop();
});

const pop = (colo: string) => network.topology.pops.find((p) => p.colo === colo)!;
const origin = (id: string) => network.topology.origins.find((o) => o.id === id)!;

describe("topology", () => {
  it("runs four POPs, three origins and the control plane", () => {
    expect(network.topology.pops.map((p) => p.name)).toEqual(["Outpost-IAD", "Outpost-FRA", "Outpost-SIN", "Outpost-GRU"]);
    expect(network.topology.origins.map((o) => o.id)).toEqual(["us-east", "eu-central", "ap-southeast"]);
    expect(network.topology.control.token).toMatch(/^opk_/);
  });
});

describe("content through the POPs", () => {
  it("sends each POP's miss to its nearest origin and serves the repeat from its cache", async () => {
    const expected: Record<string, string> = { IAD: "us-east", FRA: "eu-central", SIN: "ap-southeast", GRU: "us-east" };
    for (const [colo, originId] of Object.entries(expected)) {
      const url = `${pop(colo).url}${unique("/api/products.json")}`;
      const miss = await fetch(url);
      expect(miss.headers.get("x-origin-id")).toBe(originId);
      // ttl 9 when the origin's Date (whole seconds) is a second behind the POP's clock: its apparent age (RFC 9111 §4.2.3).
      expect(miss.headers.get("cache-status")).toMatch(new RegExp(`^Outpost-${colo};fwd=uri-miss;fwd-status=200;ttl=(9|10);stored$`));
      const body = await miss.text();
      const hit = await fetch(url);
      expect(hit.headers.get("cache-status")).toMatch(new RegExp(`^Outpost-${colo};hit;ttl=\\d+$`));
      expect(await hit.text()).toBe(body);
    }
  });

  it("serves every kind of demo object, the large one byte for byte", async () => {
    for (const path of ["/index.html", "/styles/site.css", "/scripts/app.js", "/images/logo.svg", "/images/photo.png"]) {
      const response = await fetch(`${pop("FRA").url}${path}`);
      expect(response.status, path).toBe(200);
      await response.arrayBuffer();
    }
    const direct = new Uint8Array(await (await fetch(`${origin("eu-central").url}/files/large.bin`)).arrayBuffer());
    const first = new Uint8Array(await (await fetch(`${pop("FRA").url}/files/large.bin`)).arrayBuffer());
    expect(first.byteLength).toBe(6 * 1024 * 1024);
    expect(Buffer.compare(first, direct)).toBe(0);
    const again = await fetch(`${pop("FRA").url}/files/large.bin`);
    const status = again.headers.get("cache-status");
    const second = new Uint8Array(await again.arrayBuffer());
    expect(Buffer.compare(second, direct)).toBe(0);
    expect(status).toContain("hit");
  });
});

describe("the origin's fault switch", () => {
  it("rejects a bad body with 400", async () => {
    const response = await setFault(origin("ap-southeast").admin, { mode: "sideways" });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid fault" });
  });

  it("down stops accepting connections until ok; the POP retries the next origin", async () => {
    const eu = origin("eu-central");
    const down = await setFault(eu.admin, { mode: "down" });
    expect(down.status).toBe(200);
    expect(await down.json()).toMatchObject({ mode: "down", listening: false });
    try {
      await expect(fetch(`${eu.url}/health`)).rejects.toThrow();
      const response = await fetch(`${pop("FRA").url}${unique("/api/products.json")}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-origin-id")).not.toBe("eu-central");
      await response.text();
    } finally {
      await setFault(eu.admin, { mode: "ok" });
    }
    expect((await fetch(`${eu.url}/health`)).status).toBe(200);
  });
});

describe("an origin Cloudflare cannot reach (its front answers the Worker with 52x)", () => {
  it("is a gateway failure: the miss goes to the next origin, and FRA's isolates eject it", async () => {
    const eu = origin("eu-central");
    const headers = { authorization: `Bearer ${network.topology.control.token}` };
    type Health = { origins: Record<string, { healthy: boolean; pops: Record<string, { ejections?: number }> }> };
    const healthNow = async () => (await (await fetch(`${network.topology.control.url}/v1/health`, { headers })).json()) as Health;
    // The test before took eu-central down for a moment: its probes must have brought it back, or FRA
    // would not try it at all.
    await waitFor("eu-central to be up by its probes", async () => ((await healthNow()).origins["eu-central"].healthy ? true : undefined), 10_000);
    await setFault(eu.admin, { mode: "cloudflare", cloudflareStatus: 522 });
    try {
      // All at once, four to each of FRA's two isolates: each sees its three failures in a row before the
      // probes (every 2 s) mark eu-central down and steer FRA from it, however loaded the machine.
      const responses = await Promise.all(Array.from({ length: 8 }, () => fetch(`${pop("FRA").url}${unique("/api/products.json")}`)));
      for (const response of responses) {
        expect(response.status).toBe(200);
        expect(response.headers.get("x-origin-id")).not.toBe("eu-central");
        await response.text();
      }
      const health = await waitFor("FRA's ejection of eu-central to reach the control plane", async () => {
        const h = await healthNow();
        return (h.origins["eu-central"].pops["Outpost-FRA"]?.ejections ?? 0) > 0 ? h : undefined;
      });
      expect(health.origins["eu-central"].pops["Outpost-FRA"].ejections).toBeGreaterThan(0);
    } finally {
      await setFault(eu.admin, { mode: "ok" });
    }
  });
});

describe("control plane", () => {
  it("applies an origin change at the POPs through their snapshots", async () => {
    const headers = { authorization: `Bearer ${network.topology.control.token}`, "content-type": "application/json" };
    const patch = await fetch(`${network.topology.control.url}/v1/origins/ap-southeast`, { method: "PATCH", headers, body: JSON.stringify({ enabled: false }) });
    expect(patch.status).toBe(200);
    try {
      const servedBy = await waitFor("SIN to stop using ap-southeast", async () => {
        const response = await fetch(`${pop("SIN").url}${unique("/api/products.json")}`);
        await response.text();
        const id = response.headers.get("x-origin-id")!;
        return id !== "ap-southeast" ? id : undefined;
      });
      expect(["us-east", "eu-central"]).toContain(servedBy);
    } finally {
      await fetch(`${network.topology.control.url}/v1/origins/ap-southeast`, { method: "PATCH", headers, body: JSON.stringify({ enabled: true }) });
    }
    const health = (await (await fetch(`${network.topology.control.url}/v1/health`, { headers })).json()) as {
      origins: Record<string, { healthy: boolean; pops: Record<string, { requests: number; ejected?: boolean }> }>;
    };
    expect(health.origins["us-east"].healthy).toBe(true);
    expect(health.origins["us-east"].pops["Outpost-IAD"]).toMatchObject({ ejected: false });
    const pops = (await (await fetch(`${network.topology.control.url}/v1/pops`, { headers })).json()) as { pops: { name: string }[] };
    expect(pops.pops.map((p) => p.name).sort()).toEqual(["Outpost-FRA", "Outpost-GRU", "Outpost-IAD", "Outpost-SIN"]);
  });
});

describe("the zone's cache under the Worker's fetches (as on Cloudflare)", () => {
  it("never answers a POP's fill: a purged file of a cacheable extension comes from the origin again", async () => {
    const headers = { authorization: `Bearer ${network.topology.control.token}`, "content-type": "application/json" };
    const path = unique("/gen/300.css?ttl=600");
    const get = async () => {
      const r = await fetch(`${pop("FRA").url}${path}`);
      await r.arrayBuffer();
      return { zone: r.headers.get("cf-cache-status") };
    };
    const first = await get();
    // A fetch that did not opt out would have left this file in the zone's cache, under its URL.
    expect(first.zone).toBeNull();
    const accepted = await fetch(`${network.topology.control.url}/v1/purge`, { method: "POST", headers, body: JSON.stringify({ files: [`${pop("FRA").url}${path}`] }) });
    const { result } = (await accepted.json()) as { result: { id: string } };
    // Applied, or idle: an isolate that has not synced since applies it before its next answer.
    await waitFor("FRA to apply the purge", async () => {
      const status = (await (await fetch(`${network.topology.control.url}/v1/purge/${result.id}`, { headers })).json()) as {
        pops: { name: string; applied: boolean; idle: boolean }[];
      };
      const fra = status.pops.find((p) => p.name === "Outpost-FRA");
      return fra?.applied || fra?.idle ? true : undefined;
    });
    // An isolate that holds a sync applies the purge as its answer arrives, a moment after the control
    // plane counts it delivered: the refill is asked for until it comes (from the origin, never the zone).
    const before = await originRequests(network.topology, "/gen/300.css");
    const refill = await waitFor("the refill from the origin", async () => {
      const answer = await get();
      return (await originRequests(network.topology, "/gen/300.css")) > before ? answer : undefined;
    });
    expect(refill.zone).toBeNull();
  });
});
