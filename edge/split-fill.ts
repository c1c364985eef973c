/**
 * A fill's body for its client and its store at once (Varnish's streaming
 * miss, Fastly's do_stream): the client reads every chunk as it arrives,
 * while up to `limit` bytes are collected at the origin's pace, not the
 * client's, so the memory tier and the requests collapsed onto the fill get
 * the whole body the moment it ends, whatever the client's speed. Memory
 * holds at most `limit` bytes, as a buffered fill did. A longer body goes on,
 * past the limit, in step between the client and a stream for the store that
 * replays the start (teeInStep: the slower paces both, nothing more is held).
 */
import { type BoundedBody, concat, replayThen, teeInStep } from "./body";

export interface SplitFill {
  /** Every byte, as it comes; errors when the body fails (the client's connection is cut, never a clean short end). */
  toClient: ReadableStream<Uint8Array>;
  /** The whole body when it ended within `limit`, else a stream of all of it for the store; rejects when the body failed. */
  kept: Promise<BoundedBody>;
  /** Resolves once the client's branch has ended: sent whole, failed, or cancelled (never rejects). */
  delivered: Promise<void>;
}

/** What the collection and the client's branch share. */
interface FillState {
  chunks: Uint8Array[];
  ended: boolean;
  failed?: { error: unknown };
  /** The client's branch past the limit. */
  rest?: ReadableStreamDefaultReader<Uint8Array>;
  clientGone: boolean;
  /** Resumes the client's branch waiting for the next chunk. */
  wake?: () => void;
  /** Resolves `delivered`. */
  delivered: () => void;
}

function notify(state: FillState): void {
  const resume = state.wake;
  state.wake = undefined;
  resume?.();
}

/** `storeIdleMs`: past the limit, how long the store may leave the client waiting (teeInStep). */
export function splitFill(source: ReadableStream<Uint8Array>, limit: number, storeIdleMs = Infinity): SplitFill {
  let markDelivered!: () => void;
  const delivered = new Promise<void>((resolve) => (markDelivered = resolve));
  const state: FillState = { chunks: [], ended: false, clientGone: false, delivered: markDelivered };
  const kept = collect(source.getReader(), limit, state, storeIdleMs);
  // The client's branch reports a failure itself; the store's caller decides what to keep.
  kept.catch(() => undefined);
  return { toClient: clientBranch(state), kept, delivered };
}

/** Reads the body at the origin's pace up to `limit`; past it, hands the rest to the client and the store in step. */
async function collect(reader: ReadableStreamDefaultReader<Uint8Array>, limit: number, state: FillState, storeIdleMs: number): Promise<BoundedBody> {
  const { chunks } = state;
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        state.ended = true;
        return { kind: "complete", bytes: concat(chunks, total) };
      }
      chunks.push(value);
      total += value.byteLength;
      notify(state);
      if (total > limit) break;
    }
  } catch (error) {
    state.failed = { error };
    throw error;
  } finally {
    notify(state);
  }
  const [clientRest, storeRest] = teeInStep(replayThen([], reader), storeIdleMs);
  if (state.clientGone) void clientRest.cancel().catch(() => undefined);
  else state.rest = clientRest.getReader();
  notify(state);
  return { kind: "stream", stream: replayThen(chunks, storeRest.getReader()) };
}

/** Every chunk collected, in order, then the rest past the limit; never ends the collection when cancelled. */
function clientBranch(state: FillState): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const end = (how: () => void) => {
          how();
          state.delivered();
        };
        for (;;) {
          if (sent < state.chunks.length) return controller.enqueue(state.chunks[sent++]);
          if (state.failed) return end(() => controller.error(state.failed?.error));
          if (state.ended) return end(() => controller.close());
          if (state.rest) {
            const next = await state.rest.read().catch((error: unknown) => ({ error }));
            if ("error" in next) return end(() => controller.error(next.error));
            return next.done ? end(() => controller.close()) : controller.enqueue(next.value);
          }
          await new Promise<void>((resolve) => (state.wake = resolve));
        }
      },
      cancel: async (reason) => {
        // A client gone does not end the collection: the store and the followers still want the body.
        state.clientGone = true;
        state.delivered();
        await state.rest?.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
