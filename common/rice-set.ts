/**
 * A set of fixed-width fingerprints in about log2(range / n) + 2 bits each:
 * sorted, as gaps, each gap Golomb-Rice coded (its high part in unary, its low
 * `k` bits as they are). The folded purge catch-up (common/catch-up.ts) sends
 * hundreds of thousands of purged names in it: 30-bit fingerprints of 12,500
 * names cost about 18 bits each, against 32 for the raw numbers (and 128 for
 * 16 hex digits in JSON). Bitcoin's BIP 158 filters use the same coding.
 */

/** The Rice parameter for `count` values spread over `2^bits`: the gap's mean times ln 2, in bits. */
export function riceParameter(count: number, bits: number): number {
  if (count === 0) return 0;
  return Math.max(0, Math.round(Math.log2((2 ** bits / count) * Math.LN2)));
}

class BitWriter {
  private bytes = new Uint8Array(1024);
  private bitLength = 0;

  private room(bits: number): void {
    const needed = Math.ceil((this.bitLength + bits) / 8);
    if (needed <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
    grown.set(this.bytes);
    this.bytes = grown;
  }

  /** `count` (≤ 32) low bits of `value`, most significant first. */
  write(value: number, count: number): void {
    this.room(count);
    for (let i = count - 1; i >= 0; i--) {
      const bit = i < 31 ? (value >>> i) & 1 : Math.floor(value / 2 ** i) % 2;
      if (bit === 1) this.bytes[this.bitLength >> 3] |= 0x80 >> (this.bitLength & 7);
      this.bitLength++;
    }
  }

  /** `n` ones, then a zero. */
  unary(n: number): void {
    this.room(n + 1);
    for (let i = 0; i < n; i++) {
      this.bytes[this.bitLength >> 3] |= 0x80 >> (this.bitLength & 7);
      this.bitLength++;
    }
    this.bitLength++;
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, Math.ceil(this.bitLength / 8));
  }
}

class BitReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  private bit(): number {
    if (this.at >= this.bytes.length * 8) throw new RangeError("rice set: ran past its bytes");
    const bit = (this.bytes[this.at >> 3] >> (7 - (this.at & 7))) & 1;
    this.at++;
    return bit;
  }

  read(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value = value * 2 + this.bit();
    return value;
  }

  unary(): number {
    let n = 0;
    while (this.bit() === 1) n++;
    return n;
  }
}

/** A coded set: its bytes, how many values it holds, and its Rice parameter. */
export interface RiceSet {
  bytes: Uint8Array;
  count: number;
  k: number;
}

/** Codes `values` (each below 2^bits; sorted or not, repeats allowed) as a set. */
export function encodeRiceSet(values: Iterable<number>, bits: number): RiceSet {
  const sorted = Uint32Array.from(values).sort();
  const writer = new BitWriter();
  let previous = -1;
  const distinct = sorted.filter((v, i) => i === 0 || v !== sorted[i - 1]);
  const k = riceParameter(distinct.length, bits);
  for (const value of distinct) {
    if (value >= 2 ** bits) throw new RangeError(`rice set: ${value} does not fit ${bits} bits`);
    const gap = value - previous - 1;
    const high = Math.floor(gap / 2 ** k);
    writer.unary(high);
    writer.write(gap - high * 2 ** k, k);
    previous = value;
  }
  return { bytes: writer.finish(), count: distinct.length, k };
}

/** The `count` values coded in `bytes` with Rice parameter `k`, ascending. */
export function decodeRiceSet(bytes: Uint8Array, count: number, k: number): Uint32Array {
  const reader = new BitReader(bytes);
  const values = new Uint32Array(count);
  let previous = -1;
  for (let i = 0; i < count; i++) {
    const gap = reader.unary() * 2 ** k + reader.read(k);
    previous = values[i] = previous + gap + 1;
  }
  return values;
}
