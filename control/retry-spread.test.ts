import { describe, expect, it } from "vitest";
import { RECONNECTS_PER_SECOND, retrySpreadMs } from "./retry-spread";

describe("retrySpreadMs", () => {
  it("grows with the isolates served so reconnections arrive at a bounded rate, within 1 s and 60 s", () => {
    expect(retrySpreadMs(8)).toBe(1000);
    expect(retrySpreadMs(10_000)).toBe(50_000);
    expect((10_000 / retrySpreadMs(10_000)) * 1000).toBe(RECONNECTS_PER_SECOND);
    expect(retrySpreadMs(1_000_000)).toBe(60_000);
  });
});
