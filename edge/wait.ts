/**
 * Waits for `work`, at most `ms`; then `fallback`. The timer is cleared when
 * the work wins: left running, it would fire after the request ended, and
 * workerd cancels (and warns about) promises settled outside their request.
 */
export function waitAtMost<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
