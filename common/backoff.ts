/**
 * How long to wait after failures in a row ("full jitter"): a random share of
 * a ceiling that doubles with each failure from `firstCeilingMs` up to
 * `maxMs`, never under `floorMs`. Retries from many callers spread out
 * instead of arriving together. Pure.
 */
export interface BackoffShape {
  firstCeilingMs: number;
  maxMs: number;
  floorMs: number;
}

export function fullJitterBackoffMs(failures: number, shape: BackoffShape, random: () => number = Math.random): number {
  const ceiling = Math.min(shape.maxMs, shape.firstCeilingMs * 2 ** Math.max(0, failures - 1));
  return Math.max(shape.floorMs, ceiling * random());
}
