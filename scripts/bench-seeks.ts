/**
 * Seeks in a large stored object: a 100-byte range at its end against one at
 * its start, both hits at a POP of the Miniflare network, where the object is
 * past cache.memoryEntryMaxBytes and so held by the Cache API alone. A range
 * read from the store's own range (edge/ranged-body.ts) costs the same
 * wherever it starts; one read through from the body's start cost in
 * proportion to its offset (by hand: 117 ms at the end of 30 MB, 5 at the start).
 */
import { request } from "undici";
import { IDENTITY, round1 } from "./bench-miss-path";
import { median } from "./median";
import { popAt, type Topology } from "./network";

export interface SeekTiming {
  bytes: number;
  /** Medians over the rounds, ms, to the range's last byte. */
  startMs: number;
  endMs: number;
  /** endMs / startMs: 1 when a seek costs the same wherever it lands. */
  endOverStart: number;
}

/** One ranged GET's time to its last byte; anything but a hit's 206 of `length` bytes is an error, not a figure. */
async function rangeMs(url: string, range: string, length: number): Promise<number> {
  const started = performance.now();
  const answer = await request(url, { headers: { ...IDENTITY, range } });
  const body = Buffer.from(await answer.body.arrayBuffer());
  const cacheStatus = String(answer.headers["cache-status"] ?? "");
  if (answer.statusCode !== 206 || body.byteLength !== length || !cacheStatus.includes("hit")) {
    throw new Error(`${url} ${range}: ${answer.statusCode}, ${body.byteLength} bytes, cache-status ${cacheStatus || "none"}: not a hit's 206 of ${length}`);
  }
  return performance.now() - started;
}

/** Until every isolate of the POP answers the object as a hit (its Cache API put lands behind the fill). */
async function untilHits(url: string): Promise<void> {
  for (let tries = 0, inARow = 0; tries < 200 && inARow < 4; tries++) {
    const answer = await request(url, { headers: { ...IDENTITY, range: "bytes=0-0" } });
    await answer.body.dump();
    inARow = String(answer.headers["cache-status"] ?? "").includes("hit") ? inARow + 1 : 0;
    if (inARow === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function measureSeeks(topology: Topology, bytes = 30_000_000, rounds = 9): Promise<SeekTiming> {
  const url = `${popAt(topology, "FRA").url}/gen/${bytes}?ttl=86400&seeks=${process.pid}`;
  const whole = await request(url, { headers: IDENTITY });
  await whole.body.dump();
  await untilHits(url);
  const starts: number[] = [];
  const ends: number[] = [];
  // In turn, so that neither side has the warmer process.
  for (let i = 0; i < rounds; i++) {
    starts.push(await rangeMs(url, "bytes=0-99", 100));
    ends.push(await rangeMs(url, "bytes=-100", 100));
  }
  const startMs = round1(median(starts));
  const endMs = round1(median(ends));
  return { bytes, startMs, endMs, endOverStart: Math.round((endMs / startMs) * 100) / 100 };
}
