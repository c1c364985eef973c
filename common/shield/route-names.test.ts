import { describe, expect, it } from "vitest";
import { shardNamed } from "./placement";
import { SHIELD_ROUTE, shieldRoutePath } from "./protocol";

describe("the shield route's names", () => {
  it("builds the path a POP sends a shard its miss on from the one declaration", () => {
    expect(SHIELD_ROUTE).toBe("/__shield/:region/:shard");
    expect(shieldRoutePath("eu-central", 1)).toBe("/__shield/eu-central/1");
  });

  it("resolves a region and shard as they came, or says what is wrong", () => {
    expect(shardNamed("eu-central", "1", 4)).toEqual({ address: expect.objectContaining({ region: "eu-central", shard: 1, objectName: "eu-central:1" }) });
    expect(shardNamed("atlantis", "0", 4)).toEqual({ problem: 'no region "atlantis"' });
    for (const shard of ["4", "-1", "1.5", "", "0x1"]) expect(shardNamed("eu-central", shard, 4)).toEqual({ problem: "shard must be 0 to 3" });
  });
});
