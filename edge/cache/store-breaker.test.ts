import { describe, expect, it } from "vitest";
import { STORE_BREAKER, StoreBreaker } from "./store-breaker";

const { threshold, baseCoolMs, maxCoolMs } = STORE_BREAKER;

/** A breaker opened at `at` by `threshold` timeouts in a row. */
function opened(at: number): StoreBreaker {
  const breaker = new StoreBreaker();
  for (let i = 0; i < threshold; i++) breaker.timedOut(at);
  return breaker;
}

describe("StoreBreaker", () => {
  it("stays closed through fewer timeouts in a row than the threshold, and an answer starts the count again", () => {
    const breaker = new StoreBreaker();
    for (let i = 0; i < threshold - 1; i++) breaker.timedOut(0);
    breaker.answered();
    for (let i = 0; i < threshold - 1; i++) breaker.timedOut(0);
    expect(breaker.allowLookup(0)).toBe(true);
    expect(breaker.writable).toBe(true);
  });

  it("opens at the threshold: no lookup and no write until the cooling time has passed", () => {
    const breaker = opened(1000);
    expect(breaker.allowLookup(1000 + baseCoolMs - 1)).toBe(false);
    expect(breaker.writable).toBe(false);
  });

  it("then lets one lookup at a time try the store; an answer closes it", () => {
    const breaker = opened(0);
    expect(breaker.allowLookup(baseCoolMs)).toBe(true);
    expect(breaker.allowLookup(baseCoolMs)).toBe(false); // the probe is out
    expect(breaker.writable).toBe(false);
    breaker.answered();
    expect(breaker.allowLookup(baseCoolMs)).toBe(true);
    expect(breaker.writable).toBe(true);
  });

  it("opens again for twice as long when the probe times out, up to the most", () => {
    const breaker = opened(0);
    let at = baseCoolMs;
    let cool: number = baseCoolMs;
    for (let i = 0; i < 8; i++) {
      expect(breaker.allowLookup(at)).toBe(true);
      breaker.timedOut(at);
      cool = Math.min(maxCoolMs, cool * 2);
      expect(breaker.allowLookup(at + cool - 1)).toBe(false);
      at += cool;
    }
    expect(cool).toBe(maxCoolMs);
  });

  it("holds nothing against the store for a wait the request's budget cut short", () => {
    const breaker = new StoreBreaker();
    for (let i = 0; i < threshold * 2; i++) breaker.timedOut(0, false);
    expect(breaker.allowLookup(0)).toBe(true);
    const probing = opened(0);
    expect(probing.allowLookup(baseCoolMs)).toBe(true);
    probing.timedOut(baseCoolMs, false);
    expect(probing.allowLookup(baseCoolMs)).toBe(true); // the next lookup may try it
  });
});
