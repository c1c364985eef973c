/**
 * Waits for `work`, at most `ms` (Infinity: as long as it takes); then
 * `fallback`. The timer is cleared when the work wins: left running, it would
 * fire after the request ended, and workerd cancels (and warns about) promises
 * settled outside their request.
 */
export function waitAtMost<T, F = T>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  if (ms === Infinity) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), Math.max(0, ms))));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
