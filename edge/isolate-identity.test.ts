import { describe, expect, it } from "vitest";
import { ISOLATE_RENEW_MS, type PopMetrics } from "../common/wire";
import { figuresSince, IsolateIdentity, newIsolateId } from "./isolate-identity";

describe("an isolate's identity", () => {
  it("is 16 lowercase hex digits, new each time", () => {
    const ids = new Set(Array.from({ length: 100 }, newIsolateId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });

  it("renews after a long silence and counts from there: counts subtract, states stay", () => {
    let own: PopMetrics = {
      counters: { requests: 100, hits: 60 },
      series: { "ttfb|hit": [5, 1, 0.2] },
      origins: { eu: { requests: 40, errors: 2, ejected: false, ejections: 1 } },
      location: { latitude: 50, longitude: 8.5 },
    };
    let n = 0;
    const identity = new IsolateIdentity(
      () => own,
      () => `id${++n}`,
    );
    expect(identity.id).toBe("id1");
    identity.renewIfSilent(ISOLATE_RENEW_MS);
    expect(identity.id).toBe("id1");
    expect(identity.figures()).toEqual(own);
    identity.renewIfSilent(ISOLATE_RENEW_MS + 1);
    expect(identity.id).toBe("id2");
    own = {
      ...own,
      counters: { requests: 103, hits: 62, misses: 1 },
      series: { "ttfb|hit": [6, 1, 0.25] },
      origins: { eu: { requests: 41, errors: 2, ejected: true, ejections: 2 } },
    };
    const since = identity.figures();
    expect(since.counters).toEqual({ requests: 3, hits: 2, misses: 1 });
    expect(since.series?.["ttfb|hit"].map((v) => Math.round(v * 100) / 100)).toEqual([1, 0, 0.05]);
    expect(since.origins).toEqual({ eu: { requests: 1, errors: 0, ejected: true, ejections: 1 } });
    expect(since.location).toEqual(own.location);
  });

  it("never reports a count below zero", () => {
    expect(figuresSince({ counters: { a: 1 } }, { counters: { a: 5 } }).counters).toEqual({ a: 0 });
  });
});
