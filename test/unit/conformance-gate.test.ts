import { describe, expect, it } from "vitest";
import { classify, MAX_RETRIES, unexpectedFailures } from "../../scripts/conformance-gate";

const retry = (id: string) => ({ id, kind: "required", result: "Setup: retry" });

describe("the conformance gate", () => {
  it("classifies a retry as the suite does: its own kind, not a setup failure", () => {
    expect(classify(["Setup", "retry"])).toBe("retry");
    expect(classify(["Setup", "Response 1 status is 502, not 200"])).toBe("setup");
    expect(classify(["Assertion", "Response 2 does not come from cache"])).toBe("fail");
    expect(classify(true)).toBe("pass");
  });

  it("lets a poisoned connection's retry pass, but not a setup failure of a required test", () => {
    expect(unexpectedFailures([retry("headers-store-Content-Location")])).toEqual([]);
    const broken = { id: "headers-store-Proxy-Connection", kind: "required", result: "Setup: Response 1 status is 502, not 200" };
    expect(unexpectedFailures([broken])).toEqual([broken]);
  });

  it("allows the documented limits, and fails on every retry once they are more than a poisoned connection per tier", () => {
    expect(unexpectedFailures([{ id: "headers-store-Set-Cookie", kind: "required", result: "Setup: x" }])).toEqual([]);
    const many = Array.from({ length: MAX_RETRIES + 1 }, (_, i) => retry(`t${i}`));
    expect(unexpectedFailures(many)).toHaveLength(MAX_RETRIES + 1);
  });
});
