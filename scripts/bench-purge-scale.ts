/**
 * Purge scale, in process: what a POP isolate holds after N purges spread over
 * the retention window at a busy site's rate (100,000 a day, mixed kinds), and
 * what one lookup costs. PurgeRules is the POP's own code, pure, so Node
 * measures it as workerd would run it (both V8).
 */
import { PurgeRules } from "../edge/cache/purge-rules";
import { URL_RULE_GRACE_MS } from "../common/purge-names";
import type { PurgeRule, PurgeTarget } from "../common/snapshot";

export interface PurgeScaleResult {
  purges: number;
  /** Names with a purge in force (hard URL rules only for their grace period). */
  namesHeld: number;
  indexBytes: number;
  heapDeltaBytes: number;
  lookupMicros: number;
  lookupMicrosNoRules: number;
}

const PER_DAY = 100_000;
const KINDS: PurgeTarget["kind"][] = ["url", "url", "url", "url", "url", "tag", "tag", "tag", "prefix", "host"];

function target(i: number): PurgeTarget {
  const kind = KINDS[i % KINDS.length];
  if (kind === "url") return { kind, value: `https://cdn.example.com/products/${i}/index.html` };
  if (kind === "tag") return { kind, value: `product-${i}` };
  if (kind === "prefix") return { kind, value: `https://cdn.example.com/catalog/${i}` };
  return { kind: "host", value: `shop${i % 40}.example.com` };
}

function medianLookupMicros(rules: PurgeRules, now: number): number {
  const samples: number[] = [];
  for (let round = 0; round < 7; round++) {
    const n = 20_000;
    const started = process.hrtime.bigint();
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const key = `https://cdn.example.com/catalog/${(i * 7919) % 1_000_000}/item/${i}.html?v=${i % 5}`;
      if (rules.verdict(key, [`product-${i}`, "all-products"], now - 1000).kind !== "none") hits++;
    }
    samples.push(Number(process.hrtime.bigint() - started) / 1000 / n);
    if (hits < 0) console.log(hits); // keep the loop observable
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[3] * 1000) / 1000;
}

export function measurePurgeScale(counts = [10_000, 100_000, 800_000]): PurgeScaleResult[] {
  const out: PurgeScaleResult[] = [];
  const horizonMs = 8 * 86_400_000;
  const empty = new PurgeRules(horizonMs);
  for (const count of counts) {
    const start = Date.now() - (count / PER_DAY) * 86_400_000;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage();
    const rules = new PurgeRules(horizonMs, URL_RULE_GRACE_MS);
    const page: PurgeRule[] = [];
    for (let i = 0; i < count; i++) {
      const at = start + (i / PER_DAY) * 86_400_000;
      page.push({ seq: i + 1, id: `p${i}`, at, soft: i % 17 === 0, targets: [target(i)] });
      if (page.length === 2000 || i === count - 1) rules.apply(page.splice(0), at);
    }
    rules.prune(Date.now(), true);
    gc?.();
    const after = process.memoryUsage();
    const result: PurgeScaleResult = {
      purges: count,
      namesHeld: rules.size,
      indexBytes: rules.bytes,
      heapDeltaBytes: after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers),
      lookupMicros: medianLookupMicros(rules, Date.now()),
      lookupMicrosNoRules: medianLookupMicros(empty, Date.now()),
    };
    out.push(result);
    console.log(
      `purge-scale: ${count.toLocaleString("en")} purges → ${result.namesHeld.toLocaleString("en")} names held, index ${(result.indexBytes / 2 ** 20).toFixed(1)} MiB, ` +
        `heap Δ ${(result.heapDeltaBytes / 2 ** 20).toFixed(1)} MiB, lookup ${result.lookupMicros} µs (no rules: ${result.lookupMicrosNoRules} µs)`,
    );
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) measurePurgeScale();
