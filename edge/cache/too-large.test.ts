import { describe, expect, it } from "vitest";
import { TOO_LARGE_MEMORY_MS, TooLargeObjects } from "./too-large";

describe("TooLargeObjects", () => {
  it("remembers a key for TOO_LARGE_MEMORY_MS, then forgets it: a full fetch finds out again", () => {
    const clock = { ms: 1000, now: () => clock.ms };
    const keys = new TooLargeObjects(clock);
    keys.remember("https://cdn.test/video.mp4");
    expect(keys.has("https://cdn.test/video.mp4")).toBe(true);
    expect(keys.has("https://cdn.test/other.mp4")).toBe(false);
    clock.ms += TOO_LARGE_MEMORY_MS - 1000;
    expect(keys.has("https://cdn.test/video.mp4")).toBe(true);
    clock.ms += 2000;
    expect(keys.has("https://cdn.test/video.mp4")).toBe(false);
  });

  it("holds at most 10,000 keys, the least recently remembered going first", () => {
    const keys = new TooLargeObjects();
    for (let i = 0; i <= 10_000; i++) keys.remember(`https://cdn.test/${i}`);
    expect(keys.has("https://cdn.test/0")).toBe(false);
    expect(keys.has("https://cdn.test/1")).toBe(true);
    expect(keys.has("https://cdn.test/10000")).toBe(true);
  });
});
