/**
 * Cloudflare's own TypeScript SDK (the `cloudflare` package: a client
 * written against Cloudflare's API, not ours), pointed at the control plane
 * by its base URL: zones listed, every kind of purge accepted and effective
 * at every POP, and refusals arriving as the SDK's own error types.
 */
import Cloudflare from "cloudflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network, TopologyPop } from "../../scripts/network";
import { startTestNetwork, unique, waitFor } from "./helpers";

const READ_TOKEN = "opk_read_only_token_for_the_sdk_test_0123456789";
let network: Network;
let cf: Cloudflare;
let zoneId: string;

beforeAll(async () => {
  network = await startTestNetwork({ extraTokens: [{ name: "sdk-read", token: READ_TOKEN, scopes: ["read"] }] });
  cf = new Cloudflare({ apiToken: network.topology.control.token, baseURL: `${network.topology.control.url}/client/v4`, maxRetries: 0 });
}, 120_000);
afterAll(async () => {
  await network?.stop();
});

/** The POP's own verdict for `path` (the last Cache-Status member is the POP's). */
async function popVerdict(pop: TopologyPop, path: string): Promise<string> {
  const response = await fetch(`${pop.url}${path}`);
  await response.arrayBuffer();
  return response.headers.get("cache-status")?.split(",").at(-1)?.trim() ?? "";
}

/** Every POP holds `path`, then `purge` runs; resolves when no POP answers it from its cache. */
async function purgedEverywhere(paths: string[], purge: () => Promise<unknown>): Promise<void> {
  for (const pop of network.topology.pops) {
    for (const path of paths) await waitFor(`${pop.name} to hold ${path}`, async () => ((await popVerdict(pop, path)).includes(";hit") ? true : undefined), 5000);
  }
  await purge();
  for (const pop of network.topology.pops) {
    for (const path of paths) await waitFor(`${pop.name} to drop ${path}`, async () => ((await popVerdict(pop, path)).includes(";hit") ? undefined : true), 5000);
  }
}

describe("Cloudflare's SDK against the control plane", () => {
  it("lists the site as a zone, by name too, and gets it by id", async () => {
    const zones = [];
    for await (const zone of cf.zones.list()) zones.push(zone);
    expect(zones).toHaveLength(1);
    expect(zones[0]).toMatchObject({ name: "localhost", status: "active" });
    expect(zones[0].id).toMatch(/^[0-9a-f]{32}$/);
    zoneId = zones[0].id;
    const byName = await cf.zones.list({ name: "localhost" });
    expect(byName.result.map((z) => z.id)).toEqual([zoneId]);
    expect((await cf.zones.list({ name: "elsewhere.example" })).result).toEqual([]);
    expect((await cf.zones.get({ zone_id: zoneId })).name).toBe("localhost");
  });

  it("purges by URL, as strings and as {url, headers}", async () => {
    const [a, b] = [unique("/gen/301?ttl=600"), unique("/gen/302?ttl=600")];
    await purgedEverywhere([a, b], async () => {
      const answer = await cf.cache.purge({ zone_id: zoneId, files: [`http://127.0.0.1${a}`] });
      expect(answer?.id).toMatch(/^[0-9a-f]{32}$/);
      await cf.cache.purge({ zone_id: zoneId, files: [{ url: `http://127.0.0.1${b}`, headers: {} }] });
    });
  });

  it("purges by tag, prefix and host", async () => {
    const tag = `sdk-${Date.now()}`;
    const tagged = unique(`/gen/303?ttl=600&tag=${tag}`);
    await purgedEverywhere([tagged], () => cf.cache.purge({ zone_id: zoneId, tags: [tag] }));
    const prefixed = `/gen/304?ttl=600&n=${Date.now()}`;
    await purgedEverywhere([prefixed], () => cf.cache.purge({ zone_id: zoneId, prefixes: ["127.0.0.1/gen/304"] }));
    const hosted = unique("/gen/305?ttl=600");
    await purgedEverywhere([hosted], () => cf.cache.purge({ zone_id: zoneId, hosts: ["127.0.0.1"] }));
  });

  it("purges everything in the zone", async () => {
    const path = unique("/gen/306?ttl=600");
    await purgedEverywhere([path], () => cf.cache.purge({ zone_id: zoneId, purge_everything: true }));
  });

  it("answers a bad token, a missing scope, an unknown zone and a bad body as the SDK's error types", async () => {
    const stranger = new Cloudflare({ apiToken: "opk_not_a_token_of_this_cdn_000000000000", baseURL: `${network.topology.control.url}/client/v4`, maxRetries: 0 });
    await expect(stranger.zones.list()).rejects.toBeInstanceOf(Cloudflare.AuthenticationError);
    const reader = new Cloudflare({ apiToken: READ_TOKEN, baseURL: `${network.topology.control.url}/client/v4`, maxRetries: 0 });
    expect((await reader.zones.list()).result).toHaveLength(1);
    const denied = await reader.cache.purge({ zone_id: zoneId, tags: ["x"] }).catch((err: unknown) => err);
    expect(denied).toBeInstanceOf(Cloudflare.PermissionDeniedError);
    expect((denied as InstanceType<typeof Cloudflare.PermissionDeniedError>).errors).toEqual([expect.objectContaining({ code: 10000 })]);
    await expect(cf.cache.purge({ zone_id: "0".repeat(32), tags: ["x"] })).rejects.toBeInstanceOf(Cloudflare.NotFoundError);
    const bad = await cf.cache.purge({ zone_id: zoneId, files: ["https://elsewhere.example/x"] }).catch((err: unknown) => err);
    expect(bad).toBeInstanceOf(Cloudflare.BadRequestError);
    expect(JSON.stringify((bad as InstanceType<typeof Cloudflare.BadRequestError>).errors)).toContain("files[0]");
  });
});
