/**
 * A POP as a Cloudflare colo runs it: several isolates of the Worker behind
 * one name, each with its own memory, purge position and figures, sharing the
 * colo's Cache API; the local front hands requests to them in turn. What the
 * control plane shows of a POP is the sum of its isolates, and a purge has
 * reached a POP when it has reached every one of them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { startTestNetwork, unique, waitFor } from "./helpers";

let network: Network;
beforeAll(async () => {
  network = await startTestNetwork({ configOverrides: { shield: { enabled: false } }, metricsReportMs: 200 });
});
afterAll(async () => {
  await network?.stop();
});

const fra = () => network.topology.pops.find((p) => p.colo === "FRA")!;
const auth = () => ({ authorization: `Bearer ${network.topology.control.token}`, "content-type": "application/json" });

/** FRA's outpost_requests_total as Prometheus scrapes it. */
async function scrapedRequests(): Promise<number> {
  const text = await (await fetch(`${network.topology.control.url}/metrics`, { headers: auth() })).text();
  const line = text.split("\n").find((l) => l.startsWith('outpost_requests_total{pop="Outpost-FRA"}'));
  return Number(line?.split(" ").at(-1) ?? 0);
}

async function get(path: string): Promise<{ status: string; stamp: string | null }> {
  const r = await fetch(`${fra().url}${path}`);
  await r.arrayBuffer();
  return { status: r.headers.get("cache-status") ?? "", stamp: r.headers.get("x-origin-stamp") };
}

describe("a POP of two isolates", () => {
  it("counts every request of both in one POP counter that never goes backwards", async () => {
    const scraped: number[] = [await scrapedRequests()];
    const before = scraped[0];
    for (let burst = 0; burst < 5; burst++) {
      for (let i = 0; i < 8; i++) await get(unique("/gen/64?ttl=60"));
      scraped.push(await scrapedRequests());
      await new Promise((r) => setTimeout(r, 150));
    }
    // Both isolates' figures arrive (each its own report); the POP's total is their sum.
    const total = await waitFor("FRA's counter to reach every request", async () => {
      const n = await scrapedRequests();
      scraped.push(n);
      return n >= before + 40 ? n : undefined;
    });
    expect(total).toBeGreaterThanOrEqual(before + 40);
    for (let i = 1; i < scraped.length; i++) expect(scraped[i], `scrape ${i}: ${scraped.join(", ")}`).toBeGreaterThanOrEqual(scraped[i - 1]);
    const pops = (await (await fetch(`${network.topology.control.url}/v1/pops`, { headers: auth() })).json()) as { pops: { name: string; isolates: number }[] };
    expect(pops.pops.find((p) => p.name === "Outpost-FRA")?.isolates).toBe(2);
  });

  it("purges what each isolate holds in memory, and says so only once both have the purge", async () => {
    const path = unique("/gen/256?ttl=600&stamp=1");
    const first = await get(path);
    // The other isolate fills its memory from the colo's Cache API: both now hold stamp 1.
    expect((await get(path)).status).toMatch(/Outpost-FRA;hit/);
    expect((await get(path)).stamp).toBe(first.stamp);
    const answer = await fetch(`${network.topology.control.url}/v1/purge`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({ files: [`${fra().url}${path}`] }),
    });
    const { result } = (await answer.json()) as { result: { id: string } };
    const status = await waitFor("the purge to reach both of FRA's isolates", async () => {
      const s = (await (await fetch(`${network.topology.control.url}/v1/purge/${result.id}`, { headers: auth() })).json()) as {
        pops: { name: string; applied: boolean; isolates: number; isolatesApplied: number }[];
      };
      const at = s.pops.find((p) => p.name === "Outpost-FRA");
      return at?.applied ? at : undefined;
    });
    expect(status).toMatchObject({ isolates: 2, isolatesApplied: 2 });
    // One isolate refills from the origin; the other must not answer from its old copy in memory.
    const refill = await get(path);
    expect(refill.stamp).not.toBe(first.stamp);
    expect((await get(path)).stamp).toBe(refill.stamp);
  });
});
