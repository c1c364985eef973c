import { describe, expect, it } from "vitest";
import { coloPoint, popPlace } from "./colo";

describe("a colo's place", () => {
  it("is its airport's, not the client's coordinates that request.cf carries", () => {
    const fra = coloPoint("FRA")!;
    expect(fra.latitude).toBeCloseTo(50.05, 1);
    expect(fra.longitude).toBeCloseTo(8.57, 1);
    // A client in Sydney reaching FRA: the POP is still in Frankfurt.
    expect(popPlace({ colo: "FRA", latitude: "-33.87", longitude: "151.21" })).toEqual(fra);
  });

  it("falls back to the request's coordinates for a colo the table does not know", () => {
    expect(coloPoint("ZZ9")).toBeUndefined();
    expect(popPlace({ colo: "ZZ9", latitude: "1.5", longitude: "2.5" })).toEqual({ latitude: 1.5, longitude: 2.5 });
    expect(popPlace(undefined)).toBeUndefined();
  });

  it("knows Cloudflare's large colos on every continent", () => {
    for (const colo of ["IAD", "ORD", "LAX", "GRU", "SCL", "LHR", "AMS", "JNB", "DXB", "BOM", "SIN", "NRT", "SYD", "AKL"]) expect(coloPoint(colo), colo).toBeDefined();
  });
});
