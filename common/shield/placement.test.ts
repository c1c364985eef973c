import { describe, expect, it } from "vitest";
import { HONOURED_LOCATION_HINTS, locationHint, nearestRegion, regionForKey, shardFor } from "./placement";
import { REGIONS } from "../geo/regions";

const keys = Array.from({ length: 3000 }, (_, i) => `https://cdn.example/object/${i}`);

describe("regionForKey (rendezvous hashing)", () => {
  it("gives every key one region, the same whatever order the regions come in", () => {
    for (const key of keys.slice(0, 200)) expect(regionForKey(key, ["us-east", "eu-central", "ap-southeast"])).toBe(regionForKey(key, ["ap-southeast", "us-east", "eu-central"]));
    expect(regionForKey("k", [])).toBeUndefined();
  });

  it("spreads keys about evenly, and a region leaving moves only its own keys", () => {
    const three = ["us-east", "eu-central", "ap-southeast"];
    const owners = keys.map((k) => regionForKey(k, three)!);
    for (const region of three) expect(owners.filter((o) => o === region).length).toBeGreaterThan(keys.length / 3 - 200);
    const two = ["us-east", "eu-central"];
    keys.forEach((key, i) => {
      if (owners[i] !== "ap-southeast") expect(regionForKey(key, two)).toBe(owners[i]);
    });
  });
});

describe("shardFor", () => {
  it("stays within the region's shards and uses them all", () => {
    const shards = new Set(keys.map((k) => shardFor(k, 4)));
    expect([...shards].sort()).toEqual([0, 1, 2, 3]);
    expect(shardFor("k", 0)).toBe(0);
  });
});

describe("nearestRegion", () => {
  it("is each region's own point's region", () => {
    for (const [region, point] of Object.entries(REGIONS)) expect(nearestRegion(point)).toBe(region);
  });
});

describe("locationHint", () => {
  it("names only the hints Cloudflare spawns Durable Objects for, for every region", () => {
    for (const region of Object.keys(REGIONS)) expect(HONOURED_LOCATION_HINTS).toContain(locationHint(region));
    expect(locationHint("sa-east")).toBe("enam");
    expect(locationHint("af-south")).toBe("weur");
  });
});
