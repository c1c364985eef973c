/**
 * The reference origin's fault switch: what the origin should do to the next
 * request. Pure apart from the clock and the dice, which are parameters.
 */
import { z } from "zod";

export const FaultSchema = z
  .object({
    mode: z.enum(["ok", "down", "slow", "error", "reset", "flap", "stall", "truncate", "cloudflare"]),
    /** slow: delay before the response headers, ms. */
    delayMs: z.number().int().min(0).max(600_000).default(3000),
    /** error / reset: the share of requests affected, 0..1. */
    rate: z.number().min(0).max(1).default(1),
    /** error: the status to answer with. */
    status: z.number().int().min(500).max(599).default(503),
    /**
     * cloudflare: the status Cloudflare's front answers a Worker's fetch with when it cannot get an
     * answer from the origin (521 refused, 522 connect timeout, 523 unreachable, 524 timeout after
     * connecting, 520 an empty or unreadable reply, 525/526 TLS, 530 DNS), as production does
     * where workerd would throw.
     */
    cloudflareStatus: z.union([z.number().int().min(520).max(527), z.literal(530)]).default(521),
    /** stall / truncate: bytes of the body sent before it stops (stall) or the connection is reset (truncate). */
    afterBytes: z
      .number()
      .int()
      .min(0)
      .max(64 * 1024 * 1024)
      .default(1024),
    /** flap: how long each up and each down phase lasts, ms. */
    periodMs: z.number().int().min(100).max(3_600_000).default(3000),
  })
  .strict();

export type Fault = z.output<typeof FaultSchema>;
export const NO_FAULT: Fault = FaultSchema.parse({ mode: "ok" });

export type RequestFate =
  | { kind: "serve"; delayMs: number }
  | { kind: "error"; status: number }
  /** Cloudflare's own error page for an origin it could not reach. */
  | { kind: "cloudflare"; status: number }
  | { kind: "reset" }
  /** Headers and the first `afterBytes` of the body, then nothing (stall) or a reset connection (truncate). */
  | { kind: "cut"; afterBytes: number; then: "stall" | "reset" };

/** Should the listener be accepting connections now? */
export function listening(fault: Fault, since: number, now: number): boolean {
  if (fault.mode === "down") return false;
  if (fault.mode === "flap") return Math.floor((now - since) / fault.periodMs) % 2 === 1;
  return true;
}

export function requestFate(fault: Fault, random: () => number = Math.random): RequestFate {
  switch (fault.mode) {
    case "slow":
      return { kind: "serve", delayMs: fault.delayMs };
    case "error":
      return random() < fault.rate ? { kind: "error", status: fault.status } : { kind: "serve", delayMs: 0 };
    case "cloudflare":
      return random() < fault.rate ? { kind: "cloudflare", status: fault.cloudflareStatus } : { kind: "serve", delayMs: 0 };
    case "reset":
      return random() < fault.rate ? { kind: "reset" } : { kind: "serve", delayMs: 0 };
    case "stall":
    case "truncate":
      // biome-ignore lint/suspicious/noThenProperty: a plain record (what the cut does next), never awaited.
      return random() < fault.rate ? { kind: "cut", afterBytes: fault.afterBytes, then: fault.mode === "stall" ? "stall" : "reset" } : { kind: "serve", delayMs: 0 };
    default:
      return { kind: "serve", delayMs: 0 };
  }
}
