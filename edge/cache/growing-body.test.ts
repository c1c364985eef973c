import { describe, expect, it } from "vitest";
import { GrowingBody, RECENT_ROWS, RowMemory } from "./growing-body";

/** A growing body over rows kept in an array (the store's part), counting the rows read back from it. */
function growing(memory?: RowMemory) {
  const stored: Uint8Array[] = [];
  const readBack: number[] = [];
  const body = new GrowingBody((n) => {
    readBack.push(n);
    return stored[n];
  }, memory);
  const write = (...values: number[]) => {
    const row = Uint8Array.from(values);
    stored.push(row);
    body.rowWritten(row);
  };
  return { body, stored, readBack, write };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  return [...new Uint8Array(await new Response(stream).arrayBuffer())];
}

/** Lets every pending promise run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("GrowingBody", () => {
  it("gives each reader the body from its start, each row once it is written", async () => {
    const { body, write } = growing();
    write(1, 2);
    const early = body.reader().getReader();
    expect((await early.read()).value).toEqual(Uint8Array.from([1, 2]));
    const next = early.read();
    await settle();
    // Caught up: the reader waits for the writer, holding nothing.
    expect(body.readersWaiting).toBe(1);
    write(3);
    expect((await next).value).toEqual(Uint8Array.from([3]));
    const late = body.reader();
    write(4);
    body.ended();
    expect(await readAll(late)).toEqual([1, 2, 3, 4]);
    expect((await early.read()).value).toEqual(Uint8Array.from([4]));
    expect((await early.read()).done).toBe(true);
  });

  it("hands readers that keep up the latest rows from memory, and reads older ones back from the store", async () => {
    const { body, write, readBack } = growing();
    for (let n = 0; n < RECENT_ROWS + 2; n++) write(n);
    // A reader starting now is two rows behind the writer's memory: those come from the store.
    const behind = body.reader().getReader();
    for (let n = 0; n < RECENT_ROWS + 2; n++) expect((await behind.read()).value).toEqual(Uint8Array.from([n]));
    expect(readBack).toEqual([0, 1]);
    body.ended();
    expect((await behind.read()).done).toBe(true);
    const { body: live, write: writeLive, readBack: liveReadBack } = growing();
    const reader = live.reader().getReader();
    for (let n = 0; n < 5; n++) {
      writeLive(n);
      expect((await reader.read()).value).toEqual(Uint8Array.from([n]));
    }
    expect(liveReadBack).toEqual([]);
  });

  it("errors its readers when the write fails, and says the start failed when no row came", async () => {
    const { body, write } = growing();
    const reader = body.reader();
    write(1);
    await expect(body.started).resolves.toBeUndefined();
    body.ended(new Error("origin went away"));
    await expect(readAll(reader)).rejects.toThrow("origin went away");
    const never = growing().body;
    never.ended(new Error("refused"));
    await expect(never.started).rejects.toThrow("refused");
  });

  it("starts an empty body that ends whole, and ends its readers", async () => {
    const { body } = growing();
    const reader = body.reader();
    body.ended();
    await expect(body.started).resolves.toBeUndefined();
    expect(await readAll(reader)).toEqual([]);
  });

  it("ends a read in an error, never in other bytes, when a written row is gone from the store", async () => {
    const { body, write, stored } = growing();
    for (let n = 0; n < RECENT_ROWS + 1; n++) write(n);
    body.ended();
    stored.length = 0; // the entry replaced or purged meanwhile
    await expect(readAll(body.reader())).rejects.toThrow(/changed while it was read/);
  });

  it("lets a reader cancelled while it waits pace nobody", async () => {
    const { body, write } = growing();
    const reader = body.reader().getReader();
    write(0);
    await reader.read();
    for (let n = 1; n <= RECENT_ROWS; n++) write(n);
    expect(body.room()).toBeInstanceOf(Promise);
    await reader.cancel();
    expect(body.room()).toBeUndefined();
  });
});

describe("GrowingBody, its writer", () => {
  it("waits while its fastest reader is RECENT_ROWS behind, and goes on once it takes a row", async () => {
    const { body, write } = growing();
    expect(body.room()).toBeUndefined(); // no reader: the source's pace
    const slow = body.join();
    const fast = body.join();
    for (let n = 0; n < RECENT_ROWS; n++) write(n);
    await body.take(fast);
    expect(body.room()).toBeUndefined(); // within RECENT_ROWS of the fastest
    write(RECENT_ROWS);
    const waiting = body.room();
    expect(waiting).toBeInstanceOf(Promise);
    let resumed = false;
    void waiting?.then(() => (resumed = true));
    await body.take(slow);
    await settle();
    // The slow reader paces nobody: only the fastest one does.
    expect(resumed).toBe(false);
    await body.take(fast);
    await settle();
    expect(resumed).toBe(true);
    body.leave(fast);
    body.leave(slow);
    expect(body.room()).toBeUndefined();
  });

  it("gets a row's buffer back once the row is out of memory and every reader has passed it on", async () => {
    const { body, stored } = growing();
    const reader = body.join();
    const buffers = Array.from({ length: RECENT_ROWS + 1 }, () => new ArrayBuffer(8));
    body.rowWritten(new Uint8Array(buffers[0]!));
    stored.push(new Uint8Array(buffers[0]!));
    const held = await body.take(reader);
    for (let n = 1; n <= RECENT_ROWS; n++) {
      stored.push(new Uint8Array(buffers[n]!));
      body.rowWritten(new Uint8Array(buffers[n]!));
    }
    // Row 0 is out of memory, but its reader still has it in hand: not the writer's yet.
    expect(body.spareBuffer(8)).toBeUndefined();
    if (held !== "end") held.release();
    expect(body.spareBuffer(8)).toBe(buffers[0]);
    expect(body.spareBuffer(8)).toBeUndefined();
  });
});

describe("GrowingBody, its memory", () => {
  it("keeps rows in memory within the store's bound for all its bodies, and gives it all back when whole", async () => {
    const memory = new RowMemory(5);
    const { body: first, write: writeFirst, readBack } = growing(memory);
    const { write: writeSecond } = growing(memory);
    writeSecond(1, 2, 3); // another fill's row: 3 of the 5 bytes
    const reader = first.reader().getReader();
    writeFirst(4, 5);
    expect((await reader.read()).value).toEqual(Uint8Array.from([4, 5]));
    writeFirst(6, 7);
    // Past the bound: read back from the store, though the reader keeps up.
    expect((await reader.read()).value).toEqual(Uint8Array.from([6, 7]));
    expect(readBack).toEqual([1]);
    expect(memory.bytes).toBe(5);
    first.ended();
    expect(memory.bytes).toBe(3);
  });

  it("keeps a row its store has not written yet in memory whatever the bound, uncounted", async () => {
    const memory = new RowMemory(0);
    const { body, readBack } = growing(memory);
    const reader = body.reader().getReader();
    body.rowWritten(Uint8Array.from([9]), { inMemoryOnly: true });
    expect((await reader.read()).value).toEqual(Uint8Array.from([9]));
    expect(readBack).toEqual([]);
    expect(memory.bytes).toBe(0);
  });
});
