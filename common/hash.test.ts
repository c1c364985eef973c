import { describe, expect, it } from "vitest";
import { digest, hash64 } from "./hash";

describe("hash64", () => {
  it("is stable, two independent halves, and never (0, 0), which marks an empty slot", () => {
    expect(hash64("https://cdn.example/a")).toEqual(hash64("https://cdn.example/a"));
    expect(hash64("")).not.toEqual([0, 0]);
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(digest(`/object/${i}`));
    expect(seen.size).toBe(20_000);
  });

  it("spreads near-identical names over both halves", () => {
    const [a1, a2] = hash64("/a1");
    const [b1, b2] = hash64("/a2");
    expect(a1).not.toBe(b1);
    expect(a2).not.toBe(b2);
  });

  it("writes the digest as 16 hex digits", () => {
    expect(digest("x")).toMatch(/^[0-9a-f]{16}$/);
  });
});
