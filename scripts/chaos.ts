/**
 * `npm run chaos`: fault scenarios against the local network, with a report.
 * Every scenario is bounded in time and requests and stops by itself.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadNetworkConfig } from "./network-config";
import { ROOT, startNetwork } from "./network";
import {
  allOriginsDown,
  allOriginsStalling,
  brokenBodies,
  errorPageOrigin,
  flappingOrigin,
  killNearestOrigin,
  originsDownStaleFromShield,
  shieldShardsDown,
  slowOrigin,
} from "./chaos-scenarios";
import { slowOriginAtItsLimit } from "./chaos-overflow";

const TIMEOUT_MS = 1000;
const DEADLINE_MS = 2 * TIMEOUT_MS;
/** `--pause N`: wait N seconds after the network is up (time to open the dashboard). */
const pauseArg = process.argv.indexOf("--pause");
const pauseSeconds = pauseArg >= 0 ? Math.min(120, Math.max(0, Number(process.argv[pauseArg + 1]) || 0)) : 0;

async function main(): Promise<void> {
  const config = loadNetworkConfig(join(ROOT, "outpost.config.json"));
  config.basePort = 0;
  // One budget per request of two timeouts: a fall-back or a collapsed wait never starts over.
  config.originFetch = { ...config.originFetch!, timeoutMs: TIMEOUT_MS, retries: 1, bodyIdleTimeoutMs: TIMEOUT_MS, deadlineMs: DEADLINE_MS };
  // These scenarios are about each POP's own view of its origins: POPs go to origins directly.
  config.shield = { ...config.shield!, enabled: false };
  const network = await startNetwork({ config, buildDir: join(ROOT, ".outpost", "chaos-build"), snapshotRefreshMs: 250 });
  const t = network.topology;
  console.log(`dashboard (open it to watch): ${t.control.url}/dashboard#token=${t.control.token}`);
  if (pauseSeconds > 0) {
    console.log(`starting in ${pauseSeconds} s…`);
    await new Promise((resolve) => setTimeout(resolve, pauseSeconds * 1000));
  }
  const report: Record<string, unknown> = { date: new Date().toISOString(), monitor: config.monitor, outlierDetection: config.outlierDetection, originFetchTimeoutMs: TIMEOUT_MS };
  try {
    console.log("1. the nearest origin of FRA (eu-central) dies under load, then returns");
    const kill = await killNearestOrigin(t);
    report.killNearest = kill;
    console.log(`   ${kill.requests} requests; errors: cached ${kill.cachedErrors}, misses ${kill.missErrors}`);
    console.log(`   misses after the kill served by ${JSON.stringify(kill.missesAfterKillServedBy)}`);
    console.log(`   ejected by FRA after ${kill.ejectedByPopMs} ms; down by probes after ${kill.downByProbesMs} ms; another POP knew after ${kill.otherPopLearnedMs} ms`);
    console.log(`   back in FRA's rotation ${kill.recoveredMs} ms after it returned`);

    console.log("2. every origin down, then back");
    const all = await allOriginsDown(t);
    report.allDown = all;
    console.log(
      `   cached: ${all.cachedServed}/${all.cachedRequests} served (${all.staleServed} stale); uncached: ${all.uncachedStatus.join(", ")} within ${all.uncachedMaxMs} ms`,
    );
    console.log(`   first 200 ${all.recoveredMs} ms after the origins returned; all healthy again after ${all.allHealthyMs} ms`);

    console.log(`3. SIN's nearest origin answers in ${TIMEOUT_MS * 3} ms (timeout ${TIMEOUT_MS} ms)`);
    const slow = await slowOrigin(t, TIMEOUT_MS);
    report.slow = slow;
    console.log(
      `   ${slow.misses} misses, ${slow.missErrors} errors; latency p50 ${slow.p50Ms} ms, p99 ${slow.p99Ms} ms, max ${slow.maxMs} ms; served by ${JSON.stringify(slow.servedBy)}`,
    );

    for (const [n, mode] of [
      [4, "stall"],
      [5, "truncate"],
    ] as const) {
      console.log(`${n}. FRA's nearest origin (eu-central) sends 200 bytes of each body, then ${mode === "stall" ? "goes silent" : "resets the connection"}`);
      const broken = await brokenBodies(t, mode, TIMEOUT_MS);
      report[mode === "stall" ? "stalledOrigin" : "truncatingOrigin"] = broken;
      console.log(
        `   ${broken.misses} misses, ${broken.missErrors} errors (cached errors ${broken.cachedErrors}); latency p50 ${broken.p50Ms} ms, p99 ${broken.p99Ms} ms, max ${broken.maxMs} ms`,
      );
      console.log(`   served by ${JSON.stringify(broken.servedBy)}; FRA ejected it after ${broken.ejectedByPopMs} ms`);
    }

    console.log("6. eu-central flaps down/up every 3 s for 12 s");
    const flap = await flappingOrigin(t);
    report.flap = flap;
    console.log(
      `   probe transitions ${flap.probeTransitions} (closest two ${flap.minMsBetweenTransitions} ms apart); FRA ejections ${flap.popEjections}; miss errors ${flap.missErrors}`,
    );

    console.log("7. FRA's nearest origin (eu-central) answers every request with a whole 503 page");
    const failures = config.outlierDetection?.consecutiveFailures ?? 3;
    const errorPage = await errorPageOrigin(t, failures);
    report.errorPageOrigin = errorPage;
    console.log(`   ejected by FRA after ${errorPage.missesUntilEjected ?? "no"} misses (configured run ${failures}); the next miss went to ${errorPage.nextMissServedBy}`);

    console.log(`8. every origin sends 100 bytes of each body, then goes silent; 20 concurrent cold requests at GRU`);
    const stalling = await allOriginsStalling(t, { bodyIdleTimeoutMs: TIMEOUT_MS, deadlineMs: DEADLINE_MS }, "GRU");
    report.allStalling = stalling;
    console.log(
      `   answered ${JSON.stringify(stalling.statuses)}, the slowest after ${stalling.maxMs} ms (idle timeout ${TIMEOUT_MS} ms, deadline ${DEADLINE_MS} ms); unanswered ${stalling.unanswered}`,
    );

    console.log("9. FRA's nearest origin (eu-central) answers in 800 ms, within its timeout, with maxRequests 1 (set through the control API)");
    const overflow = await slowOriginAtItsLimit(t);
    report.overflow = overflow;
    console.log(
      `   ${overflow.misses} misses, ${overflow.missErrors} errors; latency p50 ${overflow.p50Ms} ms, max ${overflow.maxMs} ms; served by ${JSON.stringify(overflow.servedBy)}`,
    );
  } finally {
    await network.stop();
  }

  // The upper tier, on a network with the shield on.
  const tiered = await startNetwork({
    config: { ...config, shield: { ...config.shield!, enabled: true } },
    buildDir: join(ROOT, ".outpost", "chaos-build"),
    snapshotRefreshMs: 250,
  });
  console.log(`dashboard of the shielded network: ${tiered.topology.control.url}/dashboard#token=${tiered.topology.control.token}`);
  try {
    console.log("10. every shield shard switched down under load at FRA, then back");
    const down = await shieldShardsDown(tiered.topology);
    report.shieldDown = down;
    console.log(`   ${down.requests} requests; errors: cached ${down.cachedErrors}, misses ${down.missErrors}; ${down.missesDirect} misses went straight to the origin`);
    console.log(`   misses through a shield again ${down.backThroughShieldMs} ms after the shards came back`);

    console.log("11. every origin down: objects GRU never had, asked at GRU");
    const stale = await originsDownStaleFromShield(tiered.topology);
    report.staleFromShield = stale;
    console.log(`   ${stale.servedStale}/${stale.objects} served stale by the shield`);
  } finally {
    await tiered.stop();
  }
  const out = join(ROOT, ".bench", "chaos.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwritten to ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
