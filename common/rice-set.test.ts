import { describe, expect, it } from "vitest";
import { decodeRiceSet, encodeRiceSet } from "./rice-set";

describe("Rice-coded sets", () => {
  it("give back the distinct values, ascending, at the ends of the range too", () => {
    const values = [5, 0, 2 ** 30 - 1, 5, 77, 1 << 20, 3];
    const set = encodeRiceSet(values, 30);
    expect(set.count).toBe(6);
    expect([...decodeRiceSet(set.bytes, set.count, set.k)]).toEqual([0, 3, 5, 77, 1 << 20, 2 ** 30 - 1]);
  });

  it("cost about log2(range / n) + 2 bits a value", () => {
    const values = Array.from({ length: 10_000 }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) >>> 2) % 2 ** 30);
    const set = encodeRiceSet(values, 30);
    const bitsEach = (set.bytes.length * 8) / set.count;
    expect(bitsEach).toBeGreaterThan(Math.log2(2 ** 30 / 10_000));
    expect(bitsEach).toBeLessThan(Math.log2(2 ** 30 / 10_000) + 2.1);
    expect([...decodeRiceSet(set.bytes, set.count, set.k)]).toEqual([...new Set(values)].sort((a, b) => a - b));
  });

  it("hold 32-bit values, and refuse one wider than declared", () => {
    const set = encodeRiceSet([2 ** 32 - 1, 2 ** 31, 1], 32);
    expect([...decodeRiceSet(set.bytes, set.count, set.k)]).toEqual([1, 2 ** 31, 2 ** 32 - 1]);
    expect(() => encodeRiceSet([2 ** 30], 30)).toThrow(RangeError);
  });

  it("throw on bytes cut short rather than invent values", () => {
    const set = encodeRiceSet([1, 2, 3, 1 << 25], 30);
    expect(() => decodeRiceSet(set.bytes.subarray(0, 1), set.count, set.k)).toThrow(RangeError);
  });
});
