import { describe, expect, it } from "vitest";
import { encodeCatchUp } from "../common/catch-up";
import { catchUpThroughColo } from "./colo-catch-up";

const answer = encodeCatchUp({ epoch: "e1", upTo: 4000, generatedAt: 1, everything: { hard: 0, soft: 0 } }, []);
const request = { epoch: "e1", after: 4100, catchUpAfter: 2000 };

/** A colo cache that fails as the Cache API may (quota, an outage of the colo's store): only a stand-in can fail on demand. */
const failing = (what: "match" | "put") =>
  ({
    match: async () => (what === "match" ? Promise.reject(new Error("cache unavailable")) : undefined),
    put: async () => (what === "put" ? Promise.reject(new Error("quota exceeded")) : undefined),
  }) as unknown as Cache;

describe("the catch-up through the colo's cache", () => {
  it("still answers from the control plane when the colo's cache fails to read or to keep", async () => {
    for (const what of ["match", "put"] as const) {
      const response = await catchUpThroughColo(failing(what), request, async () => answer);
      expect(response.status, what).toBe(200);
      expect(response.headers.get("x-outpost-catch-up")).toBe("control plane");
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(answer);
    }
  });
});
