/**
 * Reading a response body up to a bound: small bodies are buffered (so the
 * in-isolate tier and collapsed requests can share them), large ones keep
 * streaming without being held in memory.
 */
import { bufferStartingWith, largeChunkReader } from "./chunk-reader";
import { waitAtMost } from "./wait";

export type BoundedBody = { kind: "complete"; bytes: Uint8Array } | { kind: "stream"; stream: ReadableStream<Uint8Array> };

/** What readBounded read: the whole body, or a stream that replays what it read (`read` bytes) and goes on. */
export type ReadBody = { kind: "complete"; bytes: Uint8Array } | { kind: "stream"; stream: ReadableStream<Uint8Array>; read: number };

/** A message's Content-Length, when it gave a valid one. */
export function declaredLength(headers: Headers): number | undefined {
  const declared = Number(headers.get("content-length") ?? NaN);
  return Number.isInteger(declared) && declared >= 0 ? declared : undefined;
}

/**
 * Chunks as one array of `total` bytes: the one chunk itself when there is one, and without a
 * copy the chunks of a body read into one buffer (wholeBodyReader), which lie end to end in it.
 */
export function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const joined = joinedInPlace(chunks, total);
  if (joined) return joined;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * The view of `total` bytes the chunks already are: each starts where the one before it ends, in
 * one buffer, after the copies of its start that wholeBodyReader handed out before it made it.
 */
function joinedInPlace(chunks: Uint8Array[], total: number): Uint8Array | undefined {
  const buffer = bufferStartingWith(chunks[0]) ?? chunks[0];
  let end = buffer.byteOffset;
  let i = 0;
  if (buffer !== chunks[0]) for (; i < chunks.length && chunks[i].buffer !== buffer.buffer; i++) end += chunks[i].byteLength;
  for (; i < chunks.length; i++) {
    if (chunks[i].buffer !== buffer.buffer || chunks[i].byteOffset !== end) return undefined;
    end += chunks[i].byteLength;
  }
  return end - buffer.byteOffset === total ? new Uint8Array(buffer.buffer, buffer.byteOffset, total) : undefined;
}

/**
 * At the request's deadline, a body that has been arriving for at least this
 * long, its last bytes within this long, is still coming: the client gets its
 * status line and the rest as it comes. Any other (quiet for longer, or a few
 * bytes and then nothing) has stalled, though its idle timeout has not run out.
 */
const PROGRESS_AT_DEADLINE_MS = 1000;

/** When a streamed answer starts: once this many bytes of its body have come, or this long after its first did. */
export interface StreamAfter {
  bytes: number;
  ms: number;
}

/**
 * Reads at most `limit` bytes (or, with `streamAfter`, that many, or what has
 * come `streamAfter.ms` after the first bytes); past it, returns a stream that
 * replays what was read and goes on. By `deadline` (ms since the epoch) the
 * answer must start: a body still arriving then goes on as a stream; one that
 * has gone quiet fails as stalled (OriginBodyError), so the client gets its
 * 504 (or stale) in time.
 */
export async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  deadline = Infinity,
  streamAfter: StreamAfter = { bytes: Infinity, ms: Infinity },
): Promise<ReadBody> {
  if (body === null) return { kind: "complete", bytes: new Uint8Array(0) };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Headers alone are no progress: a body with no byte by the deadline has stalled.
  let lastBytesAt = -Infinity;
  let firstBytesAt = Infinity;
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  for (;;) {
    pending = reader.read();
    // Once bytes have come the answer starts within streamAfter.ms, though fewer than streamAfter.bytes have.
    const startBy = Math.min(deadline, firstBytesAt + streamAfter.ms);
    const next = await waitAtMost(pending, startBy - Date.now(), "deadline" as const);
    if (next === "deadline" && startBy < deadline) break;
    if (next === "deadline") {
      const now = Date.now();
      if (now - lastBytesAt > PROGRESS_AT_DEADLINE_MS || now - firstBytesAt < PROGRESS_AT_DEADLINE_MS) {
        void reader.cancel().catch(() => undefined);
        throw new OriginBodyError("stalled", "origin body stalled: the request's deadline came first");
      }
      break;
    }
    pending = undefined;
    if (next.done) return { kind: "complete", bytes: concat(chunks, total) };
    chunks.push(next.value);
    total += next.value.byteLength;
    lastBytesAt = Date.now();
    firstBytesAt = Math.min(firstBytesAt, lastBytesAt);
    if (total > limit || total >= streamAfter.bytes) break;
  }
  return { kind: "stream", stream: replayThen(chunks, reader, pending), read: total };
}

/** A stream of `chunks`, then of what `reader` still has (starting with its read in flight, if any). */
export function replayThen(
  chunks: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pending?: Promise<ReadableStreamReadResult<Uint8Array>>,
): ReadableStream<Uint8Array> {
  const replay = [...chunks];
  let inFlight = pending;
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const next = replay.shift();
      if (next) return controller.enqueue(next);
      const read = inFlight ?? reader.read();
      inFlight = undefined;
      const { done, value } = await read;
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * An origin body that stalled or broke off: the fill failed, whatever the status line said. A
 * stored body streamed to a client is guarded the same way, and errors its client's stream with
 * one of these, its message naming the stored body.
 */
export class OriginBodyError extends Error {
  constructor(
    readonly kind: "stalled" | "broken",
    message: string,
  ) {
    super(message);
    this.name = "OriginBodyError";
  }
}

/**
 * Counts the bytes that pass; past `limit` the stream errors (so a store of
 * it fails and nothing partial is kept). `onEnd` gets the total of a body that ended whole.
 */
export function countBytes(body: ReadableStream<Uint8Array>, limit: number, onEnd: (total: number) => void): ReadableStream<Uint8Array> {
  let total = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength;
        if (total > limit) throw new Error(`body larger than ${limit} bytes`);
        controller.enqueue(chunk);
      },
      flush: () => onEnd(total),
    }),
  );
}

/** A client's request body that stopped arriving (idle) or failed: never the origin's fault. */
export class ClientBodyError extends Error {
  constructor(
    readonly kind: "idle" | "broken",
    message: string,
  ) {
    super(message);
    this.name = "ClientBodyError";
  }
}

/**
 * A client's upload, guarded: no chunk for `idleMs` errors it as idle (nginx's
 * client_body_timeout, Varnish's timeout_idle), so a client sending a byte now
 * and then cannot hold a POP and an origin connection for as long as it likes.
 */
export function guardClientBody(body: ReadableStream<Uint8Array>, idleMs: number): ReadableStream<Uint8Array> {
  // An upload costs per chunk as a download does (see largeChunkReader).
  const reader = largeChunkReader(body);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await waitAtMost(reader.read(), idleMs, "idle" as const);
        if (next === "idle") {
          void reader.cancel().catch(() => undefined);
          controller.error(new ClientBodyError("idle", `no request body bytes for ${idleMs} ms`));
        } else if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (err) {
        controller.error(new ClientBodyError("broken", `request body failed: ${(err as Error).message}`));
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** Reads a guarded upload whole (small bodies, kept so a retry can send them again). */
export async function readUpload(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  try {
    return new Uint8Array(await new Response(body).arrayBuffer());
  } catch (err) {
    throw err instanceof ClientBodyError ? err : new ClientBodyError("broken", `request body failed: ${(err as Error).message}`);
  }
}

/**
 * Two branches of one stream that read it in step: a chunk is read from the
 * source only when every branch still read has taken the last one, so the
 * slower reader paces both and neither buffers more than a chunk. The
 * platform's tee() reads as fast as the faster branch and queues the rest for
 * the slower: a store draining a 64 MiB origin body at full speed while its
 * client reads at 50 KB/s held the whole body in memory. A branch cancelled
 * (a client gone) stops counting; the other then reads at its own pace. The
 * second branch is a store's: one that leaves the first waiting for
 * `storeIdleMs` (a colo cache that stopped reading) is errored, so its copy
 * is dropped and the client goes on alone, never held by a store.
 */
export function teeInStep(source: ReadableStream<Uint8Array>, storeIdleMs = Infinity): [ReadableStream<Uint8Array>, ReadableStream<Uint8Array>] {
  const reader = source.getReader();
  const branches: TeeBranch[] = [{ open: true }, { open: true }];
  let reading = false;
  const settle = () => {
    for (const branch of branches) {
      const resume = branch.waiting;
      branch.waiting = undefined;
      resume?.();
    }
  };
  const watch = storeWatch(branches[0], branches[1], storeIdleMs, () => void readWhenAllWait());
  const readWhenAllWait = async () => {
    const open = branches.filter((b) => b.open);
    if (reading || open.length === 0) return;
    if (open.some((b) => !b.waiting)) return watch.arm();
    watch.disarm();
    reading = true;
    try {
      const { done, value } = await reader.read();
      for (const branch of branches) {
        if (!branch.open) continue;
        if (done) branch.controller?.close();
        else branch.controller?.enqueue(value);
      }
      if (done) for (const branch of branches) branch.open = false;
    } catch (err) {
      for (const branch of branches) if (branch.open) branch.controller?.error(err);
      for (const branch of branches) branch.open = false;
    } finally {
      reading = false;
      settle();
    }
  };
  const branchStream = (branch: TeeBranch) =>
    new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (branch.controller = controller),
        pull: () =>
          new Promise<void>((resolve) => {
            branch.waiting = resolve;
            void readWhenAllWait();
          }),
        cancel: async (reason) => {
          branch.open = false;
          const resume = branch.waiting;
          branch.waiting = undefined;
          resume?.();
          if (branches.every((b) => !b.open)) {
            watch.disarm();
            await reader.cancel(reason).catch(() => undefined);
          } else void readWhenAllWait();
        },
      },
      { highWaterMark: 0 },
    );
  return [branchStream(branches[0]), branchStream(branches[1])];
}

interface TeeBranch {
  controller?: ReadableStreamDefaultController<Uint8Array>;
  open: boolean;
  /** Resolves this branch's pending pull. */
  waiting?: () => void;
}

/** Errors `store` once `first` has waited `ms` on it without its taking a chunk (teeInStep); then `givenUp`. */
function storeWatch(first: TeeBranch, store: TeeBranch, ms: number, givenUp: () => void): { arm: () => void; disarm: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const disarm = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const arm = () => {
    if (timer !== undefined || ms === Infinity || !first.waiting || !store.open || store.waiting) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (!store.open || store.waiting || !first.waiting) return;
      store.open = false;
      store.controller?.error(new Error(`the store took no chunk for ${ms} ms: its copy is given up`));
      givenUp();
    }, ms);
  };
  return { arm, disarm };
}
