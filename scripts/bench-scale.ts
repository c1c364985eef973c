/**
 * The control plane at Cloudflare's scale, simulated (with
 * bench-scale-network.ts, which runs the isolates' syncs through the
 * relays): how large a new isolate's catch-up is after a long purge log, as
 * the product builds and applies it, and what a deploy costs, every isolate
 * of every colo new within 30 s, each catching up through its colo's cache
 * and its region's relay.
 *
 * `npm run bench -- --only scale` (about six minutes in all).
 */
import type { PurgeTarget } from "../common/snapshot";
import { decodeCatchUp } from "../common/catch-up";
import { PurgeRules } from "../edge/cache/purge-rules";
import { catchUpThroughColo } from "../control/colo-catch-up";
import { ControlState } from "../control/state";
import { MemoryControlStorage } from "../control/storage";
import { configFor, reachOf, sleep, type Reach } from "./bench-scale-model";
import { World } from "./bench-scale-world";

export interface ScaleResult {
  /**
   * A new isolate after `rules` purges: the answers it takes to catch up, their bytes and the largest
   * one's, the object's time to fold (its first: the closed hours too), purged tags it missed (must
   * be 0), the share of never-purged URLs that match a fingerprint, and the edge's memory for it.
   */
  catchUp: { rules: number; answers: number; bytes: number; largest: number; foldMs: number; applyMs: number; missed: number; falseMatchShare: number; edgeBytes: number };
  /** A deploy: every isolate new within DEPLOY_WAVE_MS, each catching up through its colo's cache (control/colo-catch-up.ts) and its relay. */
  deploy: DeployWave;
}

export interface DeployWave {
  isolates: number;
  colos: number;
  /** Catch-ups the global object folded and sent (to relays), and their bytes. */
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
    return new Response(
      new ReadableStream({
        pull: (controller) => {
          controller.enqueue(new Uint8Array(bytes));
          controller.close();
        },
      }),
    );
  }
  async put(request: Request, response: Response): Promise<void> {
    this.entries.set(request.url, await response.arrayBuffer());
  }
}

/** A deploy's new isolates arrive over this long (as each colo's traffic reaches the new version). */
const DEPLOY_WAVE_MS = 30_000;

/** Every isolate of every colo new within DEPLOY_WAVE_MS (a deploy), each syncing and fetching its catch-up through its colo and relay. */
async function simulateDeployWave(state: ControlState, isolates: number, colos: number): Promise<DeployWave> {
  const world = new World(state, colos);
  const caches = Array.from({ length: colos }, () => new ColoCache() as unknown as Cache);
  const caughtUp: number[] = [];
  const { purgeEpoch, purgeSeq } = await state.snapshot(undefined, 0);
  await Promise.all(
    Array.from({ length: isolates }, async (_, i) => {
      const colo = i % colos;
      const { relay, oneWayMs } = world.relayOf(colo);
      await sleep(Math.random() * DEPLOY_WAVE_MS);
      const started = Date.now();
      // The sync that sends it to the catch-up, answered by its relay.
      await sleep(oneWayMs);
      await relay.ready();
      await sleep(oneWayMs);
      const fold = async () => {
        await sleep(oneWayMs);
        const bytes = await relay.catchUp();
        await sleep(oneWayMs);
        return bytes;
      };
      // The colo's cache is a local round trip away; the body is left unread (each isolate reads its own on
      // its own CPU in production).
      await sleep(1);
      const response = await catchUpThroughColo(caches[colo], { epoch: purgeEpoch ?? "", after: purgeSeq, catchUpAfter: 2000 }, fold);
      await response.body?.cancel();
      caughtUp.push(Date.now() - started);
    }),
  );
  return { isolates, colos, fromGlobal: world.catchUpsFromGlobal.count, bytesFromGlobal: world.catchUpsFromGlobal.bytes, caughtUpMs: reachOf(caughtUp) };
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
  return measureCatchUp(rules, isolates, colos);
}
