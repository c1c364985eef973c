import { describe, expect, it } from "vitest";
import { NameTimes } from "./name-times";

describe("NameTimes", () => {
  it("keeps the latest hard and soft time of each name, through growth", () => {
    const times = new NameTimes(16);
    for (let i = 0; i < 5000; i++) times.note(`tag-${i}`, i % 2 === 0, 100 + i);
    times.note("tag-0", false, 50);
    times.note("tag-0", true, 10);
    expect(times.get("tag-0")).toEqual({ hard: 50, soft: 100 });
    expect(times.get("tag-4999")).toEqual({ hard: 5099, soft: 0 });
    expect(times.get("never-purged")).toBeUndefined();
  });

  it("forgets names whose every purge is older than the sweep, and keeps the rest", () => {
    const times = new NameTimes();
    for (let i = 0; i < 3000; i++) times.note(`old-${i}`, false, 10);
    times.note("recent", false, 500);
    times.sweep(100);
    expect(times.get("old-7")).toBeUndefined();
    expect(times.get("recent")).toEqual({ hard: 500, soft: 0 });
  });
});
