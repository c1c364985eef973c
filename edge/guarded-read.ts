/**
 * One read of an origin's body under the guard's idle timeout, shared by the
 * guard's pumps (origin-body-guard.ts, in-step-pump.ts): what a read came
 * to, as the guard counts it against the origin.
 */
import { OriginBodyError } from "./body";
import { waitAtMost } from "./wait";

/** What a pump tells the guard. */
export interface GuardHooks {
  settle(error?: OriginBodyError): void;
  onBytes?(bytes: number): void;
  /** The body passed whole: its bytes. */
  onEnd?(bytes: number): void;
}

/**
 * One read of the origin's body within `idleMs`: what it read, or what it came to. A read that
 * waits longer has stalled (the reader is cancelled), one that fails has broken off.
 */
export async function guardedRead(
  read: Promise<ReadableStreamReadResult<Uint8Array>>,
  reader: { cancel(): Promise<void> },
  idleMs: number,
): Promise<ReadableStreamReadResult<Uint8Array> | OriginBodyError> {
  try {
    const next = await waitAtMost(read, idleMs, "stalled" as const);
    if (next !== "stalled") return next;
    void reader.cancel().catch(() => undefined);
    return new OriginBodyError("stalled", `origin body stalled: no bytes for ${idleMs} ms`);
  } catch (err) {
    return brokenOff(err);
  }
}

export function brokenOff(err: unknown): OriginBodyError {
  return new OriginBodyError("broken", `origin body broke off: ${(err as Error).message}`);
}
