/** Origin bodies for the guard's tests (framed-guard, in-step-pump): patterned chunks, and how each outcome is seen. */
import type { OriginBodyError } from "../../edge/body";

/** A byte stream (as a socket's body is) of `chunks`, each its own pattern; then it ends, stalls or breaks. */
export function origin(chunks: Uint8Array[], then: "end" | "stall" | "break"): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (next < chunks.length) return controller.enqueue(chunks[next++].slice());
      if (then === "end") return controller.close();
      if (then === "break") return controller.error(new Error("connection reset"));
      return new Promise<void>(() => undefined);
    },
  });
}

export function patterned(count: number, size: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(size).map((_, j) => (i * 7 + j * 13) & 255));
}

/** What the guard told: completions, a failure, bytes seen. */
export function outcomes() {
  const seen: { complete: number; failure?: OriginBodyError; bytes: number } = { complete: 0, bytes: 0 };
  return {
    seen,
    outcome: { onComplete: () => void seen.complete++, onFailure: (e: OriginBodyError) => void (seen.failure = e), onBytes: (n: number) => void (seen.bytes += n) },
  };
}
