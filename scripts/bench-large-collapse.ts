/**
 * Clients of one cold large object at once: what they cost the origins. A body past
 * cache.memoryEntryMaxBytes is shared by the shard that fills it as it is stored (a followed
 * fill, edge/cache/growing-body.ts); before, each client's miss fetched it again. Eight clients
 * at one POP, then one at every POP at once, each round a new object; every body is checked whole.
 */
import { request } from "undici";
import { IDENTITY } from "./bench-miss-path";
import { popAt, type Topology } from "./network";
import { originRequestsByOrigin } from "./origin-stats";

export interface LargeCollapseResult {
  bytes: number;
  /** Clients at one POP (FRA) at once, and the origin fetches they cost, by origin. */
  onePop: { clients: number; originFetches: Record<string, number> };
  /** One client at every POP at once, and the origin fetches they cost, by origin. */
  everyPop: { clients: number; originFetches: Record<string, number> };
}

/** One client's whole body; anything but a 200 of `bytes` is an error, not a figure. */
async function wholeBody(url: string, bytes: number): Promise<void> {
  const answer = await request(url, { headers: IDENTITY });
  const body = Buffer.from(await answer.body.arrayBuffer());
  if (answer.statusCode !== 200 || body.byteLength !== bytes) throw new Error(`${url}: ${answer.statusCode}, ${body.byteLength} bytes, not a 200 of ${bytes}`);
}

/** The origin fetches it costs to ask each of `popUrls` at once for a new cold object. */
async function fetchesFor(topology: Topology, bytes: number, popUrls: string[]): Promise<Record<string, number>> {
  const path = `/gen/${bytes}`;
  const before = await originRequestsByOrigin(topology, path);
  const query = `?ttl=600&large=${process.pid}-${Date.now()}`;
  await Promise.all(popUrls.map((pop) => wholeBody(`${pop}${path}${query}`, bytes)));
  const after = await originRequestsByOrigin(topology, path);
  return Object.fromEntries(Object.entries(after).map(([id, n]) => [id, n - (before[id] ?? 0)]));
}

export async function measureLargeCollapse(topology: Topology, bytes = 30_000_000, clients = 8): Promise<LargeCollapseResult> {
  const fra = popAt(topology, "FRA").url;
  const onePop = {
    clients,
    originFetches: await fetchesFor(
      topology,
      bytes,
      Array.from({ length: clients }, () => fra),
    ),
  };
  const everyPop = {
    clients: topology.pops.length,
    originFetches: await fetchesFor(
      topology,
      bytes,
      topology.pops.map((p) => p.url),
    ),
  };
  return { bytes, onePop, everyPop };
}

/** "eu-central 1, us-east 0": each origin's fetches. */
export function fetchesText(byOrigin: Record<string, number>): string {
  return Object.entries(byOrigin)
    .map(([id, n]) => `${id} ${n}`)
    .join(", ");
}
