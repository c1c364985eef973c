/**
 * What the scale simulations share: the network they model (Cloudflare's
 * regions, each with a share of the colos and a rough one-way latency from
 * them to the one global control object) and the control plane's config.
 */
import { parseConfig } from "../common/config";

/**
 * Cloudflare's regions, each with a share of the colos: the one-way latency from its colos to the
 * global object (a rough map of Cloudflare's network), the relay its colos use (the Durable Object
 * location hint of the region; South America's and Africa's hints are not honoured, so theirs are
 * eastern North America's and western Europe's) and the one-way latency from its colos to that relay.
 */
export const REGIONS: { name: string; oneWayMs: number; share: number; relay: string; toRelayMs: number }[] = [
  { name: "enam", oneWayMs: 8, share: 0.2, relay: "enam", toRelayMs: 8 },
  { name: "wnam", oneWayMs: 35, share: 0.15, relay: "wnam", toRelayMs: 8 },
  { name: "weur", oneWayMs: 45, share: 0.2, relay: "weur", toRelayMs: 8 },
  { name: "eeur", oneWayMs: 60, share: 0.1, relay: "eeur", toRelayMs: 10 },
  { name: "apac", oneWayMs: 110, share: 0.2, relay: "apac", toRelayMs: 20 },
  { name: "oc", oneWayMs: 120, share: 0.05, relay: "oc", toRelayMs: 8 },
  { name: "sam", oneWayMs: 70, share: 0.07, relay: "enam", toRelayMs: 60 },
  { name: "afr", oneWayMs: 95, share: 0.03, relay: "weur", toRelayMs: 50 },
];

/** The region of colo number `colo` of `colos`, by the regions' shares. */
export function regionOfColo(colo: number, colos: number): (typeof REGIONS)[number] {
  let x = (colo + 0.5) / colos;
  for (const r of REGIONS) {
    if (x < r.share) return r;
    x -= r.share;
  }
  return REGIONS[0];
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The p-quantile of sorted values (0 for none). */
function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** How long something took to reach the isolates it reached, ms, and how many. */
export interface Reach {
  p50: number;
  p95: number;
  max: number;
  reached: number;
}

export function reachOf(ms: number[]): Reach {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), max: sorted.at(-1) ?? 0, reached: sorted.length };
}

/** Requests at the global object, by second since the start. */
export class Arrivals {
  private readonly bySecond = new Map<number, number>();
  constructor(private readonly start: number) {}

  /** The second since the start that `now` falls in. */
  second(now = Date.now()): number {
    return Math.floor((now - this.start) / 1000);
  }

  count(now = Date.now()): void {
    const second = this.second(now);
    this.bySecond.set(second, (this.bySecond.get(second) ?? 0) + 1);
  }

  /** Requests in the seconds [from, to). */
  between(from: number, to: number): number {
    let n = 0;
    for (let s = from; s < to; s++) n += this.bySecond.get(s) ?? 0;
    return n;
  }

  /** Requests a second over [from, to), rounded. */
  rate(from: number, to: number): number {
    return Math.round(this.between(from, to) / Math.max(1, to - from));
  }

  /** The busiest second in [from, to). */
  peak(from: number, to: number): number {
    let most = 0;
    for (let s = from; s < to; s++) most = Math.max(most, this.bySecond.get(s) ?? 0);
    return most;
  }
}

/** The one-site configuration the simulated control plane runs. */
export function configFor() {
  return parseConfig({
    origins: [{ id: "o", url: "http://127.0.0.1:1", region: "us-east" }],
    sites: [{ id: "s", hosts: ["cdn.example.com"], origins: ["o"] }],
  });
}
