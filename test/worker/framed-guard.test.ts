/**
 * The origin body guard's path through the runtime's own streams, in workerd
 * itself: a body sent on by a FixedLengthStream (its length known) or an
 * IdentityTransformStream (chunked), pumped through one buffer used again and
 * again. Every byte must arrive as the origin sent it, and a stall, a short
 * body or a client gone must end as the stream-read guard ends them.
 */
import { describe, expect, it } from "vitest";
import { sendAndStoreByRuntime, sendByRuntime } from "../../edge/framed-body";
import { guardOriginBody, guardStoredBody } from "../../edge/origin-body-guard";
import { origin, outcomes, patterned } from "./origin-bodies";

const totalOf = (chunks: Uint8Array[]) => chunks.reduce((n, c) => n + c.byteLength, 0);

describe("the origin body guard, framed", () => {
  it("sends every byte as the origin sent it, through a reused buffer", async () => {
    // Chunks larger and smaller than the guard's buffer: a reused buffer overwritten too soon would show.
    const chunks = [...patterned(6, 300_000), ...patterned(40, 5_000)];
    const { seen, outcome } = outcomes();
    const guarded = guardOriginBody(origin(chunks, "end"), 1000, outcome);
    const framed = sendByRuntime(guarded, totalOf(chunks));
    expect(framed).toBeDefined();
    const got = new Uint8Array(await new Response(framed).arrayBuffer());
    const want = new Uint8Array(totalOf(chunks));
    let at = 0;
    for (const c of chunks) {
      want.set(c, at);
      at += c.byteLength;
    }
    expect(got.byteLength).toBe(want.byteLength);
    expect(got.every((b, i) => b === want[i])).toBe(true);
    expect(seen.failure).toBeUndefined();
    expect(seen).toMatchObject({ complete: 1, bytes: want.byteLength });
  });

  it("sends a body of unknown length chunked, every byte, and tells its total", async () => {
    const chunks = [...patterned(3, 300_000), ...patterned(10, 7_000)];
    const { seen, outcome } = outcomes();
    let told: number | undefined;
    const carried = sendByRuntime(guardOriginBody(origin(chunks, "end"), 1000, outcome), undefined, (n) => (told = n));
    expect(carried).toBeDefined();
    const got = new Uint8Array(await new Response(carried).arrayBuffer());
    let at = 0;
    const same = chunks.every((c) => c.every((b) => b === got[at++]));
    expect(got.byteLength).toBe(totalOf(chunks));
    expect(same).toBe(true);
    expect(told).toBe(totalOf(chunks));
    expect(seen).toMatchObject({ complete: 1, bytes: totalOf(chunks) });
  });

  it("errors a chunked body when the origin stalls or breaks off", async () => {
    for (const then of ["stall", "break"] as const) {
      const { seen, outcome } = outcomes();
      const carried = sendByRuntime(guardOriginBody(origin(patterned(2, 10_000), then), 200, outcome), undefined);
      await expect(new Response(carried).arrayBuffer()).rejects.toThrow();
      expect(seen.failure?.kind).toBe(then === "stall" ? "stalled" : "broken");
    }
  });

  it("errors the client's body when the origin stalls, and counts it against the origin", async () => {
    const chunks = patterned(2, 10_000);
    const { seen, outcome } = outcomes();
    const framed = sendByRuntime(guardOriginBody(origin(chunks, "stall"), 200, outcome), 100_000);
    const started = Date.now();
    await expect(new Response(framed).arrayBuffer()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(seen.failure?.kind).toBe("stalled");
    expect(seen.complete).toBe(0);
  });

  // Never a clean short end: the client's connection is cut, and the origin is counted as broken.
  it.each([
    { what: "breaks off", chunks: 2, ending: "break", length: 100_000 },
    { what: "ends short of its length", chunks: 2, ending: "end", length: 100_000 },
    { what: "goes past its length", chunks: 3, ending: "end", length: 15_000 },
  ] as const)("errors the client's body when the origin's $what", async ({ chunks, ending, length }) => {
    const { seen, outcome } = outcomes();
    const framed = sendByRuntime(guardOriginBody(origin(patterned(chunks, 10_000), ending), 1000, outcome), length);
    await expect(new Response(framed).arrayBuffer()).rejects.toThrow();
    expect(seen.failure?.kind).toBe("broken");
  });

  it("holds nothing against the origin when the client goes", async () => {
    const { seen, outcome } = outcomes();
    const framed = sendByRuntime(guardOriginBody(origin(patterned(50, 10_000), "stall"), 60_000, outcome), 10_000_000);
    const reader = framed!.getReader();
    await reader.read();
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.failure).toBeUndefined();
    expect(seen.complete).toBe(1);
  });

  it("is not offered once the guarded stream has been read", async () => {
    const guarded = guardOriginBody(origin(patterned(2, 1000), "end"), 1000);
    const reader = guarded.getReader();
    await reader.read();
    reader.releaseLock();
    expect(sendByRuntime(guarded, 2000)).toBeUndefined();
  });

  it("guards a stored body as an origin's: sent by the runtime, its stall named as the store's, never stored again", async () => {
    const chunks = patterned(4, 100_000);
    const framed = sendByRuntime(guardStoredBody(origin(chunks, "end"), 1000), totalOf(chunks));
    expect(new Uint8Array(await new Response(framed).arrayBuffer()).byteLength).toBe(totalOf(chunks));
    const options = { length: 400_000, firstBytes: { bytes: 16_384, ms: 50 }, deadline: Date.now() + 1000, storeIdleMs: 1000 };
    expect(sendAndStoreByRuntime(guardStoredBody(origin(chunks, "end"), 1000), options)).toBeUndefined();
    const stalled = guardStoredBody(origin(patterned(2, 1000), "stall"), 100).getReader();
    const readToEnd = async () => {
      while (!(await stalled.read()).done);
    };
    await expect(readToEnd()).rejects.toThrow("stored body stalled: no bytes for 100 ms");
  });
});
