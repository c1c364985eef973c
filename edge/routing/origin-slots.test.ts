import { describe, expect, it } from "vitest";
import { OriginSlots } from "./origin-slots";

describe("OriginSlots", () => {
  it("gives an origin at most `limit` slots at once, and frees one as it is released", () => {
    const slots = new OriginSlots();
    const first = slots.take("a", 2);
    const second = slots.take("a", 2);
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(slots.take("a", 2)).toBeUndefined();
    first!();
    expect(slots.waitingOn("a")).toBe(1);
    expect(slots.take("a", 2)).toBeDefined();
  });

  it("counts each origin apart", () => {
    const slots = new OriginSlots();
    expect(slots.take("a", 1)).toBeDefined();
    expect(slots.take("a", 1)).toBeUndefined();
    expect(slots.take("b", 1)).toBeDefined();
  });

  it("frees a slot once, however often its release is called", () => {
    const slots = new OriginSlots();
    const first = slots.take("a", 2)!;
    slots.take("a", 2);
    first();
    first();
    expect(slots.waitingOn("a")).toBe(1);
  });
});
