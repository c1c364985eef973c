/**
 * Tiered caching against the default local network (shield on): POPs send
 * their misses to the shield shard that owns the key, so the origin sees one
 * request per object, not one per POP; the shield answers revalidations, takes
 * purges, stands in with stale copies, and is never a single point of failure.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { coldObject, originRequests as originRequestsOf, setFault, startTestNetwork, unique, waitFor } from "./helpers";
import { originsDownStaleFromShield, shieldShardsDown } from "../../scripts/chaos-scenarios";

let network: Network;
beforeAll(async () => {
  // One owner per key (placement "key"): these tests are about the shield as a single tier; the
  // default, regional tiers, has its own test below.
  network = await startTestNetwork({ snapshotRefreshMs: 100, configOverrides: { shield: { enabled: true, shardsPerRegion: 2, placement: "key" } } });
});
afterEach(async () => {
  for (const origin of network.topology.origins) await setFault(origin.admin, { mode: "ok" });
});
afterAll(async () => {
  await network?.stop();
});

const auth = () => ({ authorization: `Bearer ${network.topology.control.token}`, "content-type": "application/json" });
const popUrl = (colo: string) => network.topology.pops.find((p) => p.colo === colo)!.url;

async function get(colo: string, path: string): Promise<{ status: number; cacheStatus: string; body: string }> {
  const r = await fetch(`${popUrl(colo)}${path}`, { headers: { "accept-encoding": "identity" } });
  return { status: r.status, cacheStatus: r.headers.get("cache-status") ?? "", body: await r.text() };
}

const originRequests = (path: string) => originRequestsOf(network.topology, path);

/**
 * Until FRA answers from its own cache: of its two isolates, the one that did not fill may ask
 * before the filler's store reached the colo's Cache API, and fill from the shield itself.
 */
const hitAtFra = (path: string) => waitFor(`a hit at FRA for ${path}`, async () => ((await get("FRA", path)).cacheStatus.includes("Outpost-FRA;hit") ? true : undefined));

/** A cold object of `bytes`: its path, its bytes as the origin sends them, and the origin's fetches of it since. */
async function coldLarge(bytes: number): Promise<{ path: string; whole: Buffer; originFetches: () => Promise<number> }> {
  const path = unique(`/gen/${bytes}?ttl=60`);
  const origin = network.topology.origins.find((o) => o.id === "eu-central")!;
  const whole = Buffer.from(await (await fetch(`${origin.url}${path}`, { headers: { "accept-encoding": "identity" } })).arrayBuffer());
  const before = await originRequests(`/gen/${bytes}`);
  return { path, whole, originFetches: async () => (await originRequests(`/gen/${bytes}`)) - before };
}

/** A body as a POP's client gets it. */
async function bodyAt(colo: string, path: string): Promise<Buffer> {
  return Buffer.from(await (await fetch(`${popUrl(colo)}${path}`, { headers: { "accept-encoding": "identity" } })).arrayBuffer());
}

/** Each test its own generated size, so origin counts by path are its own. */
let size = 7000;
const fresh = (ttl: number) => coldObject(size++, ttl);

describe("the shield tier", () => {
  it("a cold object costs the origin one request, however many POPs ask; Cache-Status names both caches, shield first", async () => {
    const { path, counted } = fresh(60);
    const first = await get("IAD", path);
    expect(first.cacheStatus).toMatch(/^Outpost-Shield-[a-z-]+-\d;fwd=uri-miss;fwd-status=200;ttl=(59|60);stored, Outpost-IAD;fwd=uri-miss/);
    for (const colo of ["FRA", "SIN", "GRU"]) {
      const answer = await get(colo, path);
      expect(answer.body).toBe(first.body);
      expect(answer.cacheStatus).toMatch(new RegExp(`^Outpost-Shield-[a-z-]+-\\d;hit;ttl=\\d+, Outpost-${colo};fwd=uri-miss`));
    }
    expect(await originRequests(counted)).toBe(1);
  });

  it("100 concurrent cold requests at every POP at once make one origin request in all", async () => {
    const { path, counted } = fresh(60);
    const answers = await Promise.all(network.topology.pops.flatMap((pop) => Array.from({ length: 100 }, () => get(pop.colo, path))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await originRequests(counted)).toBe(1);
  });

  it("a cold miss streams through both tiers: the client has its first bytes while the origin still sends, and followers share the one fill", async () => {
    const bytes = 300_000 + size++;
    const path = unique(`/gen/${bytes}?ttl=60&pauseAfter=100000&pauseMs=2000`);
    const started = Date.now();
    const answers = Array.from({ length: 6 }, async () => {
      const response = await fetch(`${popUrl("FRA")}${path}`, { headers: { "accept-encoding": "identity" } });
      const headersAt = Date.now() - started;
      const reader = response.body!.getReader();
      const first = await reader.read();
      const firstBytesAt = Date.now() - started;
      let total = first.value?.byteLength ?? 0;
      for (let next = await reader.read(); !next.done; next = await reader.read()) total += next.value.byteLength;
      return { headersAt, firstBytesAt, total, lastByteAt: Date.now() - started };
    });
    const [leader, ...followers] = await Promise.all(answers);
    // Buffered at either tier, neither the status line nor a byte would come before the pause ends.
    expect(Math.min(leader.firstBytesAt, ...followers.map((f) => f.firstBytesAt))).toBeLessThan(1500);
    for (const answer of [leader, ...followers]) {
      expect(answer.total).toBe(bytes);
      expect(answer.lastByteAt).toBeGreaterThanOrEqual(2000);
    }
    expect(await originRequests(`/gen/${bytes}`)).toBe(1);
    await hitAtFra(path);
  });

  it("a cold miss answers once its first 16 KiB have come, at both tiers: an origin that pauses after 20 KB does not hold the client", async () => {
    const bytes = 40_000 + size++;
    const path = unique(`/gen/${bytes}?ttl=60&pauseAfter=20000&pauseMs=2000`);
    const started = Date.now();
    const response = await fetch(`${popUrl("FRA")}${path}`, { headers: { "accept-encoding": "identity" } });
    const reader = response.body!.getReader();
    await reader.read();
    const firstBytesAt = Date.now() - started;
    await reader.cancel();
    // Waiting for 64 KiB (or the whole body) at either tier, the first byte would come after the pause.
    expect(firstBytesAt).toBeLessThan(1500);
  });

  it("requests collapsed onto a miss too large to share are not held for its whole body", async () => {
    const bytes = 2_000_000 + size++;
    const path = unique(`/gen/${bytes}?ttl=60&pauseAfter=1500000&pauseMs=2500`);
    const started = Date.now();
    const firstBytes = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const response = await fetch(`${popUrl("FRA")}${path}`, { headers: { "accept-encoding": "identity" } });
        const reader = response.body!.getReader();
        await reader.read();
        const at = Date.now() - started;
        await reader.cancel();
        return at;
      }),
    );
    // Held for the body, a follower's first byte would come after the origin's pause.
    for (const at of firstBytes) expect(at).toBeLessThan(2000);
  });

  it("a cold object too large for memory costs the origin one request however many ask at once, each client getting it whole", async () => {
    // Before, each client of a body past memory's bound fetched it again: seven clients, seven origin fetches.
    const large = await coldLarge(12_000_000 + size++);
    const colos = ["FRA", "FRA", "FRA", "FRA", "IAD", "SIN", "GRU"];
    const bodies = await Promise.all(colos.map((colo) => bodyAt(colo, large.path)));
    for (const body of bodies) expect(body.equals(large.whole)).toBe(true);
    expect(await large.originFetches()).toBe(1);
  });

  it("a client that stops reading a large cold object holds neither the others who share its fill nor the origin", async () => {
    // Past what the sockets and runtimes between it and the shard hold (tens of MB on loopback), so the client's stall reaches the shard.
    const large = await coldLarge(30_000_000 + size++);
    const stalled = await fetch(`${popUrl("FRA")}${large.path}`, { headers: { "accept-encoding": "identity" } });
    const reader = stalled.body!.getReader();
    const first = await reader.read();
    // FRA's client reads no more for now; IAD's, collapsed onto the same fill at the shield, reads it all.
    const askedAt = Date.now();
    expect((await bodyAt("IAD", large.path)).equals(large.whole)).toBe(true);
    // Paced by the stalled client, IAD's copy would wait out the shard writer's 5 s (FASTEST_READER_WAIT_MS).
    expect(Date.now() - askedAt).toBeLessThan(4000);
    expect(await large.originFetches()).toBe(1);
    // The stalled client reads on, from the shield's storage, every byte.
    const chunks = [Buffer.from(first.value!)];
    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(Buffer.from(next.value));
    expect(Buffer.concat(chunks).equals(large.whole)).toBe(true);
    expect(await large.originFetches()).toBe(1);
  });

  it("a POP revalidates against the shield, which answers 304 from a copy another POP's revalidation freshened", async () => {
    const { path, counted } = fresh(2);
    await get("FRA", path);
    await new Promise((r) => setTimeout(r, 2500));
    // IAD never had it: its miss finds the shield's copy stale, and the shield revalidates (one origin 304).
    await get("IAD", path);
    const before = await originRequests(counted);
    // FRA's copy is stale; the shield's is fresh again: the shield answers FRA's conditional request itself.
    const revalidated = await get("FRA", path);
    expect(revalidated.cacheStatus).toMatch(/Outpost-Shield-[a-z-]+-\d;hit;ttl=\d, Outpost-FRA;fwd=stale;fwd-status=304/);
    expect(await originRequests(counted)).toBe(before);
  });

  it("what the origin's 304 changes reaches the POP's copy through the shield (RFC 9111 §4.3.4)", async () => {
    const bytes = size++;
    // 3 s: after the revalidation the copy stays fresh for at least 2 s (Date has whole seconds), so the
    // third request finds it fresh however slow the machine; at 1 s it revalidated once more now and then.
    const path = unique(`/gen/${bytes}?ttl=3&stamp=1`);
    const stampOf = async () => {
      const r = await fetch(`${popUrl("FRA")}${path}`, { headers: { "accept-encoding": "identity" } });
      await r.text();
      return { stamp: r.headers.get("x-origin-stamp"), cacheStatus: r.headers.get("cache-status") ?? "" };
    };
    const first = await stampOf();
    await new Promise((r) => setTimeout(r, 4100));
    // Both copies are stale: FRA asks the shield, the shield asks the origin, the origin answers 304 with a new stamp.
    const revalidated = await stampOf();
    expect(revalidated.cacheStatus).toMatch(/Outpost-FRA;fwd=stale;fwd-status=304/);
    expect(revalidated.stamp).not.toBe(first.stamp);
    expect((await stampOf()).stamp).toBe(revalidated.stamp);
  });

  it("the fields that target Outpost reach the POP from the shield: both tiers keep the lifetime Surrogate-Control gives", async () => {
    const path = unique("/headers?cache-control=max-age%3D3600&surrogate-control=max-age%3D1");
    const first = await get("FRA", path);
    expect(first.cacheStatus).toMatch(/^Outpost-Shield-[a-z-]+-\d;fwd=uri-miss;fwd-status=200;ttl=[01];stored, Outpost-FRA;fwd=uri-miss;fwd-status=200;ttl=[01];stored$/);
    const r = await fetch(`${popUrl("FRA")}${path}`, { headers: { "accept-encoding": "identity" } });
    await r.text();
    // Still for Outpost alone: the client never sees it.
    expect(r.headers.get("surrogate-control")).toBeNull();
  });

  it("a successful POST invalidates its target at the shield too, and in the POP's other isolate (RFC 9111 §4.4)", async () => {
    const { path, counted } = fresh(600);
    await get("FRA", path);
    // The front takes turns: both of FRA's isolates now hold a copy in memory.
    await hitAtFra(path);
    // The POST goes to one isolate, the GET after it to the other.
    const post = await fetch(`${popUrl("FRA")}${path}`, { method: "POST", body: "x" });
    expect(post.status).toBe(200);
    await post.text();
    const after = await get("FRA", path);
    expect(after.cacheStatus).not.toMatch(/;hit/);
    // The fill, the POST itself, and the refill: neither tier answered from its old copy.
    expect(await originRequests(counted)).toBe(3);
  });

  it("a purge reaches the shield: no POP refills a purged copy from it", async () => {
    const { path, counted } = fresh(600);
    await get("FRA", path);
    await hitAtFra(path);
    const r = await fetch(`${network.topology.control.url}/v1/purge`, { method: "POST", headers: auth(), body: JSON.stringify({ files: [`http://127.0.0.1${path}`] }) });
    expect(r.status).toBe(200);
    await waitFor("FRA to drop the purged copy", async () => ((await get("FRA", path)).cacheStatus.includes("Outpost-FRA;hit") ? undefined : true), 3000);
    // The refill went to the origin through the shield, not to the shield's purged copy. (Which
    // region's shard another POP asks follows origin health as that POP sees it, which earlier
    // tests in this file move: that POP's answer proves nothing here, and once made this flaky.)
    expect(await originRequests(counted)).toBe(2);
  });

  it("with its shard down, a POP goes to the origin itself, and Cache-Status says so", async () => {
    const shards: [string, number][] = [];
    for (const region of ["us-east", "eu-central", "ap-southeast"]) for (const shard of [0, 1]) shards.push([region, shard]);
    const fault = (down: boolean) =>
      Promise.all(
        shards.map(([region, shard]) =>
          fetch(`${network.topology.control.url}/v1/shields/${region}/${shard}/fault`, { method: "POST", headers: auth(), body: JSON.stringify({ down }) }),
        ),
      );
    for (const answer of await fault(true)) expect(answer.status).toBe(200);
    try {
      const { path } = fresh(60);
      const direct = await get("FRA", path);
      expect(direct.status).toBe(200);
      expect(direct.cacheStatus).toMatch(/^Outpost-FRA;fwd=uri-miss;fwd-status=200;ttl=(59|60);stored;detail="shield-(down|ejected)"$/);
    } finally {
      await fault(false);
    }
  });

  it("with every origin down, a POP that never had an object gets the shield's stale copy", async () => {
    const { path } = fresh(1);
    const original = await get("IAD", path);
    await new Promise((r) => setTimeout(r, 1500));
    for (const origin of network.topology.origins) await setFault(origin.admin, { mode: "down" });
    const stale = await get("GRU", path);
    expect(stale.status).toBe(200);
    expect(stale.body).toBe(original.body);
    expect(stale.cacheStatus).toMatch(/^Outpost-Shield-[a-z-]+-\d;fwd=stale/);
  });

  it("chaos: every shard switched down under load, no client sees an error, misses go straight to the origin", async () => {
    const r = await shieldShardsDown(network.topology, "FRA", 3000);
    expect(r.shards).toBe(6);
    expect(r.requests).toBeGreaterThan(50);
    expect(r.cachedErrors).toBe(0);
    expect(r.missErrors).toBe(0);
    expect(r.missesDirect).toBeGreaterThan(0);
    expect(r.backThroughShieldMs).not.toBeNull();
  }, 60_000);

  it("chaos: every origin down, objects a POP never had come stale from the shield", async () => {
    const r = await originsDownStaleFromShield(network.topology, "IAD", "GRU", 5);
    expect(r.servedStale).toBe(r.objects);
  }, 60_000);
});
