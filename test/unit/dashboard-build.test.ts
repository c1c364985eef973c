import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { dashboardModule, GENERATED } from "../../scripts/build-dashboard";

describe("the dashboard's script", () => {
  it("is what its TypeScript sources bundle to (run npm run build:dashboard after changing them)", () => {
    expect(readFileSync(GENERATED, "utf8")).toBe(dashboardModule());
  });
});
