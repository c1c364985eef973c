/**
 * A compact map from names (a tag, a host, a URL, a path prefix) to the
 * latest hard and soft purge time naming them, for hundreds of thousands of
 * names inside an isolate's 128 MiB. Open addressing over typed arrays: each
 * slot is a 64-bit hash of the name and two times as 32-bit ticks (the owner
 * chooses the unit), 16 bytes, and nothing per name lives on the JS heap.
 *
 * A hash collision (odds about n²/2⁶⁵) makes an unrelated name look purged:
 * it errs toward purging, never away from it, and costs one extra miss.
 */
import { hash64 } from "../../common/hash";

export interface Times {
  /** Latest hard purge naming it, in ticks; 0 for none. */
  hard: number;
  soft: number;
}

const MAX_LOAD = 0.6;

export class NameTimes {
  private h1: Uint32Array;
  private h2: Uint32Array;
  private hardAt: Uint32Array;
  private softAt: Uint32Array;
  private used = 0;
  /** The oldest time any name holds: nothing to sweep before it. */
  private oldest = Infinity;

  constructor(private capacity = 1024) {
    this.h1 = new Uint32Array(capacity);
    this.h2 = new Uint32Array(capacity);
    this.hardAt = new Uint32Array(capacity);
    this.softAt = new Uint32Array(capacity);
  }

  private slotOf(a: number, b: number): number {
    const mask = this.capacity - 1;
    let i = a & mask;
    while (this.h1[i] !== 0 || this.h2[i] !== 0) {
      if (this.h1[i] === a && this.h2[i] === b) return i;
      i = (i + 1) & mask;
    }
    return i;
  }

  /** Records a purge of `name` at `tick`; a later purge of the same kind replaces an earlier one. */
  note(name: string, soft: boolean, tick: number): void {
    const [a, b] = hash64(name);
    this.noteKey(a, b, soft, tick);
  }

  /** The same, for a name known by its 64-bit key (two 32-bit halves, not both 0). */
  noteKey(a: number, b: number, soft: boolean, tick: number): void {
    if ((this.used + 1) / this.capacity > MAX_LOAD) this.rebuild(this.capacity * 2, 0);
    const i = this.slotOf(a, b);
    if (this.h1[i] === 0 && this.h2[i] === 0) {
      this.h1[i] = a;
      this.h2[i] = b;
      this.used++;
    }
    const times = soft ? this.softAt : this.hardAt;
    times[i] = Math.max(times[i], tick);
    this.oldest = Math.min(this.oldest, Math.max(this.hardAt[i], this.softAt[i]));
  }

  /** The times naming `name`, or undefined. */
  get(name: string): Times | undefined {
    const [a, b] = hash64(name);
    return this.getKey(a, b);
  }

  getKey(a: number, b: number): Times | undefined {
    const i = this.slotOf(a, b);
    if (this.h1[i] === 0 && this.h2[i] === 0) return undefined;
    return { hard: this.hardAt[i], soft: this.softAt[i] };
  }

  /** Forgets names whose every purge is older than `beforeTick`. */
  sweep(beforeTick: number): void {
    if (this.oldest >= beforeTick) return;
    let capacity = this.capacity;
    while (capacity > 1024 && this.used / (capacity / 2) < MAX_LOAD / 2) capacity /= 2;
    this.rebuild(capacity, beforeTick);
  }

  private rebuild(capacity: number, beforeTick: number): void {
    const old = { h1: this.h1, h2: this.h2, hard: this.hardAt, soft: this.softAt, capacity: this.capacity };
    this.capacity = capacity;
    this.h1 = new Uint32Array(capacity);
    this.h2 = new Uint32Array(capacity);
    this.hardAt = new Uint32Array(capacity);
    this.softAt = new Uint32Array(capacity);
    this.used = 0;
    this.oldest = Infinity;
    for (let j = 0; j < old.capacity; j++) {
      if (old.h1[j] === 0 && old.h2[j] === 0) continue;
      const latest = Math.max(old.hard[j], old.soft[j]);
      if (latest < beforeTick) continue;
      const i = this.slotOf(old.h1[j], old.h2[j]);
      this.h1[i] = old.h1[j];
      this.h2[i] = old.h2[j];
      this.hardAt[i] = old.hard[j];
      this.softAt[i] = old.soft[j];
      this.used++;
      this.oldest = Math.min(this.oldest, latest);
    }
  }

  get size(): number {
    return this.used;
  }

  /** Memory held, bytes. */
  get bytes(): number {
    return this.capacity * 16;
  }
}
