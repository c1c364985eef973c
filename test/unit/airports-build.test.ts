import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { airportsModule, GENERATED } from "../../scripts/build-airports";

describe("the airport table", () => {
  it("is what the airports package makes (run npm run build:airports after updating it)", () => {
    expect(readFileSync(GENERATED, "utf8")).toBe(airportsModule());
  });
});
