/**
 * Request collapsing, its own unit (Envoy's thundering_herd_handler, Varnish's
 * waiting list): the first request for a key leads and does the work; the
 * others find the leader's promise and wait on it instead of repeating the
 * work. The leader may settle early (a fill shares its body as soon as it is
 * stored); its promise always settles when its work ends, and the key is free
 * again. State behind methods, time nowhere: pure.
 */
export class Collapsing<T> {
  readonly #leaders = new Map<string, Promise<T>>();

  /** The leader's promise for this key, if one is at work. */
  leaderOf(key: string): Promise<T> | undefined {
    return this.#leaders.get(key);
  }

  /**
   * Runs `work` as the leader for `key`. `work` may settle its followers
   * early with a value; when it ends (whatever way), they get `ended` if it
   * had not, and the key is free again. Work whose result comes before its
   * end (a fill answering its client while the body still streams in) holds
   * the key until what it passes to `hold` has settled too.
   */
  lead<R>(key: string, ended: T, work: (settle: (value: T) => void, hold: (until: Promise<unknown>) => void) => Promise<R>): Promise<R> {
    let settle!: (value: T) => void;
    const leader = new Promise<T>((resolve) => (settle = resolve));
    this.#leaders.set(key, leader);
    const held: Promise<unknown>[] = [];
    const release = () => {
      settle(ended); // a no-op when the work settled already
      if (this.#leaders.get(key) === leader) this.#leaders.delete(key);
    };
    let running: Promise<R>;
    try {
      running = work(settle, (until) => held.push(until));
    } catch (err) {
      release();
      throw err;
    }
    const releaseAfterHeld = () => (held.length === 0 ? release() : void Promise.allSettled(held).then(release));
    running.then(releaseAfterHeld, releaseAfterHeld);
    return running;
  }

  get size(): number {
    return this.#leaders.size;
  }
}
