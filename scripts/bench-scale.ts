/**
 * The control plane at Cloudflare's scale, simulated: the control plane's own
 * code (ControlState, in process, with its held syncs) driven by simulated
 * isolates in colos spread over regions, each a busy isolate that keeps a
 * held sync open as a POP does (it re-arms as its next request arrives), with
 * a modelled one-way latency from its region to the one global object.
 * Reports the requests a second at the global object, steady and in each
 * second after a purge, how long the purge took to reach every isolate, and
 * how large a new isolate's catch-up is after a long purge log.
 *
 * `npm run bench -- --only scale` (with bench-scale-outage.ts, about five minutes). No relays exist yet: this
 * measures the design as it is against issue 25's bars.
 */
import type { PurgeTarget } from "../common/snapshot";
import { decodeCatchUp } from "../common/catch-up";
import { PurgeRules } from "../edge/cache/purge-rules";
import { catchUpThroughColo } from "../control/colo-catch-up";
import { ControlState } from "../control/state";
import { MemoryControlStorage } from "../control/storage";
import { Arrivals, configFor, reachOf, regionOfColo, sleep, type Reach } from "./bench-scale-model";

/** How long a sync is held (SNAPSHOT_LONG_POLL_MS's default). */
const HOLD_MS = 20_000;

export interface ScaleResult {
  isolates: number;
  colos: number;
  /** Requests a second at the global object, over a steady window with nothing to tell. */
  steadyPerSecond: number;
  /** Requests at the global object in each of the 5 seconds after a purge. */
  afterPurgePerSecond: number[];
  /** Purge accepted → the answer carrying it reached the isolate, ms. */
  propagationMs: Reach;
  /**
   * A new isolate after `rules` purges: the answers it takes to catch up, their bytes and the largest
   * one's, the object's time to fold (its first: the closed hours too), purged tags it missed (must
   * be 0), the share of never-purged URLs that match a fingerprint, and the edge's memory for it.
   */
  catchUp: { rules: number; answers: number; bytes: number; largest: number; foldMs: number; applyMs: number; missed: number; falseMatchShare: number; edgeBytes: number };
  /** A deploy: every isolate new within DEPLOY_WAVE_MS, each catching up through its colo's cache (control/colo-catch-up.ts). */
  deploy: DeployWave;
}

export interface DeployWave {
  isolates: number;
  colos: number;
  /** Catch-ups the global object folded and sent, and their bytes. */
  fromGlobal: number;
  bytesFromGlobal: number;
  /** A new isolate's first sync sent → its catch-up in hand, ms. */
  caughtUpMs: Reach;
}

/**
 * The colo's Cache API as the sim needs it (match and put by URL; a colo's entries kept for the run).
 * A match's body is a stream that copies the bytes only when read: 10,000 copies of 0.9 MB on this
 * one thread would measure the simulation, not the design.
 */
class ColoCache {
  private readonly entries = new Map<string, ArrayBuffer>();
  async match(request: Request): Promise<Response | undefined> {
    const bytes = this.entries.get(request.url);
    if (!bytes) return undefined;
    return new Response(new ReadableStream({ pull: (controller) => (controller.enqueue(new Uint8Array(bytes)), controller.close()) }));
  }
  async put(request: Request, response: Response): Promise<void> {
    this.entries.set(request.url, await response.arrayBuffer());
  }
}

/** A deploy's new isolates arrive over this long (as each colo's traffic reaches the new version). */
const DEPLOY_WAVE_MS = 30_000;

/** Every isolate of every colo new within DEPLOY_WAVE_MS (a deploy), each syncing and fetching its catch-up through its colo. */
async function simulateDeployWave(state: ControlState, isolates: number, colos: number): Promise<DeployWave> {
  const caches = Array.from({ length: colos }, () => new ColoCache() as unknown as Cache);
  let fromGlobal = 0;
  let bytesFromGlobal = 0;
  const caughtUp: number[] = [];
  await Promise.all(
    Array.from({ length: isolates }, async (_, i) => {
      const colo = i % colos;
      const { oneWayMs } = regionOfColo(colo, colos);
      await sleep(Math.random() * DEPLOY_WAVE_MS);
      const started = Date.now();
      await sleep(oneWayMs);
      const answer = await state.sync({ pop: `Outpost-C${colo}`, isolate: `d${i}`, have: 0, purgeSeq: 0 });
      await sleep(oneWayMs);
      const fold = async () => {
        await sleep(oneWayMs);
        const bytes = await state.catchUp();
        fromGlobal++;
        bytesFromGlobal += bytes.length;
        await sleep(oneWayMs);
        return bytes;
      };
      // The colo's cache is a local round trip away; the body is left unread (each isolate reads its own on
      // its own CPU in production).
      await sleep(1);
      const response = await catchUpThroughColo(caches[colo], { epoch: answer.purgeEpoch ?? "", after: answer.purgeSeq, catchUpAfter: 2000 }, fold);
      await response.body?.cancel();
      caughtUp.push(Date.now() - started);
    }),
  );
  return { isolates, colos, fromGlobal, bytesFromGlobal, caughtUpMs: reachOf(caughtUp) };
}

/** Held syncs from `isolates` busy isolates over `colos` colos, a purge, and what it cost. */
async function simulateSyncs(isolates: number, colos: number): Promise<Omit<ScaleResult, "catchUp" | "deploy">> {
  const state = new ControlState(new MemoryControlStorage(), configFor, Date.now, () => undefined);
  const arrivals = new Arrivals(Date.now());
  let running = true;
  let purgeAt = 0;
  let purgeSeq = 0;
  const reachedMs: number[] = [];
  const loops = Array.from({ length: isolates }, async (_, i) => {
    const colo = i % colos;
    const region = regionOfColo(colo, colos);
    const report = { pop: `Outpost-C${colo}`, isolate: `i${i}`, have: 0, purgeSeq: 0 };
    let reached = false;
    // Isolates come up over the first two seconds, as traffic arrives.
    await sleep(Math.random() * 2000);
    while (running) {
      await sleep(region.oneWayMs);
      arrivals.count();
      const answer = await state.sync({ ...report }, HOLD_MS);
      await sleep(region.oneWayMs);
      report.have = answer.version;
      report.purgeSeq = Math.max(report.purgeSeq, answer.purges.at(-1)?.seq ?? 0);
      if (!reached && purgeSeq > 0 && report.purgeSeq >= purgeSeq) {
        reached = true;
        reachedMs.push(Date.now() - purgeAt);
      }
      // A busy isolate's next request arrives within a few ms and re-arms the held sync.
      await sleep(Math.random() * 20);
    }
  });
  // Steady: one whole hold, from when every isolate is up (each re-arms once in it).
  await sleep(3000);
  const steadyFrom = arrivals.second();
  await sleep(HOLD_MS + 2000);
  const steadyTo = arrivals.second();
  const steadyPerSecond = arrivals.rate(steadyFrom, steadyTo);
  // A purge: every held sync is answered at once, and every isolate re-arms.
  purgeAt = Date.now();
  purgeSeq = (await state.purge([{ kind: "url", value: "https://cdn.example.com/a" }], false, "scale")).seq;
  const purgeSecond = arrivals.second(purgeAt);
  await sleep(5500);
  const afterPurgePerSecond = Array.from({ length: 5 }, (_, k) => arrivals.between(purgeSecond + k, purgeSecond + k + 1));
  running = false;
  // Held syncs end at their bound; the loops are not awaited past this point.
  void Promise.allSettled(loops);
  return { isolates, colos, steadyPerSecond, afterPurgePerSecond, propagationMs: reachOf(reachedMs) };
}

/**
 * A new isolate's catch-up after `rules` purges over 8 days (half URLs, half tags, as a busy site's
 * mix), as the product does it: a sync (which sends it to the catch-up), the folded catch-up, then
 * syncs for what is left. Applied to the edge's own PurgeRules, then checked: every tag purged must
 * purge an entry fetched before it, and the share of never-purged names that match anyway is the
 * fingerprints' false matches (each an extra miss, never a purge missed).
 */
async function measureCatchUp(rules: number, isolates: number, colos: number): Promise<Pick<ScaleResult, "catchUp" | "deploy">> {
  const storage = new MemoryControlStorage();
  const now = Date.now();
  const spacing = Math.floor((8 * 86_400_000) / rules);
  const targetOf = (seq: number): PurgeTarget =>
    seq % 10 < 5 ? { kind: "url", value: `https://cdn.example.com/products/${seq}/index.html` } : { kind: "tag", value: `product-${seq}` };
  for (let seq = 1; seq <= rules; seq++) await storage.appendPurge({ seq, id: `p${seq}`, at: now - (rules - seq) * spacing, soft: false, targets: [targetOf(seq)] });
  await storage.putRow("value", "purgeSeq", rules);
  const state = new ControlState(
    storage,
    configFor,
    () => now,
    () => undefined,
    { purgeHorizonMs: 9 * 86_400_000 },
  );
  const edge = new PurgeRules(9 * 86_400_000);
  let purgeSeq = 0;
  let answers = 0;
  let bytes = 0;
  let largest = 0;
  let foldMs = 0;
  let applyMs = 0;
  for (;;) {
    const answer = await state.sync({ pop: "Outpost-NEW", isolate: "n1", have: 0, purgeSeq, epoch: undefined });
    answers++;
    bytes += JSON.stringify(answer).length;
    if (answer.catchUp) {
      const started = performance.now();
      const folded = await state.catchUp();
      foldMs = performance.now() - started;
      answers++;
      bytes += folded.length;
      largest = Math.max(largest, folded.length);
      const applying = performance.now();
      edge.applyCatchUp(decodeCatchUp(folded), now);
      applyMs = performance.now() - applying;
      purgeSeq = edge.highestSeq;
      continue;
    }
    edge.apply(answer.purges, now);
    largest = Math.max(largest, JSON.stringify(answer).length);
    const last = answer.purges.at(-1)?.seq;
    if (last === undefined || last >= answer.purgeSeq) break;
    purgeSeq = last;
  }
  // Every purged tag purges an entry fetched before it; names never purged match only by a fingerprint's chance.
  const fetchedBefore = now - 9 * 86_400_000;
  let missed = 0;
  for (let seq = 10; seq <= rules; seq += 1000) if (edge.verdict("https://cdn.example.com/x", [`product-${seq - (seq % 10) + 5}`], fetchedBefore).kind !== "hard") missed++;
  const probes = 100_000;
  let falseMatches = 0;
  for (let i = 0; i < probes; i++) if (edge.verdict(`https://cdn.example.com/never/${i}`, [], fetchedBefore).kind !== "none") falseMatches++;
  const catchUp = { rules, answers, bytes, largest, foldMs, applyMs, missed, falseMatchShare: falseMatches / probes, edgeBytes: edge.bytes };
  return { catchUp, deploy: await simulateDeployWave(state, isolates, colos) };
}

export async function measureScale(isolates = 10_000, colos = 300, rules = 800_000): Promise<ScaleResult> {
  const syncs = await simulateSyncs(isolates, colos);
  return { ...syncs, ...(await measureCatchUp(rules, isolates, colos)) };
}
