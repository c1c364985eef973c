/**
 * The edge pipeline, as a cache's state machine:
 *
 *   recv ─▶ lookup ─▶ hitOrStale ─▶ deliver
 *      │                  ├▶ revalidate (fetch ▸ store) ─▶ deliver | done
 *      │                  └▶ miss (collapsed; fetch ▸ store) ─▶ deliver | done
 *      │                       └▶ rangePass (a range of an object too large to store) ─▶ done
 *      └▶ pass (fetch ▸ invalidate) ─▶ done
 *   any state ─▶ synth (an answer of our own) ─▶ done
 *
 * Each state lives in its own module and returns the next step (steps.ts);
 * run() below is the one loop that dispatches them, synchronously for as
 * long as states answer without I/O (a hit in memory never awaits). HTTP
 * decisions live in edge/http (pure); storage behind pop.tiers.
 */
import { isReservedPath } from "../../common/cache-key";
import type { Env } from "../../common/env";
import { popFor, type Pop } from "../pop";
import { statusResponse, STATUS_PATH } from "../status";
import type { Transaction } from "../transaction";
import { errorResponse } from "../errors";
import { deliverState } from "./deliver-stored";
import { hitOrStale } from "./hit";
import { lookupState } from "./lookup";
import { missState } from "./miss";
import { passState } from "./pass";
import { rangePassState } from "./range-pass";
import { recv, reservedPath, unknownHost } from "./recv";
import { revalidateState } from "./revalidate";
import { cacheStatusOf, NEXT, type State, type Step, type StepTo } from "./steps";
import { synthState } from "./synth";

/** A shield shard runs the same pipeline with its own Pop and its region's location. */
export interface UpperTier {
  pop: Pop;
  cf: IncomingRequestCfProperties;
  /** What the POP left of its budget, as a deadline here (see SHIELD_FIELDS.budget). */
  deadline?: number;
}

type StateFunction<S extends State> = (tx: Transaction, step: StepTo<S>) => Step | Promise<Step>;

const STATES: { [S in Exclude<State, "done">]: StateFunction<S> } = {
  lookup: lookupState,
  hitOrStale,
  revalidate: revalidateState,
  miss: missState,
  rangePass: rangePassState,
  pass: passState,
  deliver: deliverState,
  synth: synthState,
};

function dispatch(tx: Transaction, step: Exclude<Step, { to: "done" }>): Step | Promise<Step> {
  return (STATES[step.to] as StateFunction<typeof step.to>)(tx, step);
}

/** A step a state may not take: a bug of ours, answered as one rather than followed. */
function illegal(tx: Transaction, from: State, to: State): Step {
  console.error(`outpost: illegal pipeline step ${from} → ${to}`);
  return { to: "synth", answer: { status: 500, message: "internal error", retryAfter: 5, cacheStatus: cacheStatusOf(tx, { detail: "internal" }) } };
}

/** The loop: runs states until one answers; awaits only where a state did I/O. */
function run(tx: Transaction, step: Step): Response | Promise<Response> {
  for (;;) {
    if (step.to === "done") return step.response;
    const from = step.to;
    let next: Step | Promise<Step>;
    try {
      next = dispatch(tx, step);
    } catch (err) {
      next = failed(tx, from, err);
    }
    if (next instanceof Promise) return next.catch((err: unknown) => failed(tx, from, err)).then((s) => run(tx, checked(tx, from, s)));
    step = checked(tx, from, next);
  }
}

function checked(tx: Transaction, from: State, next: Step): Step {
  return NEXT[from].includes(next.to) ? next : illegal(tx, from, next.to);
}

/** A state threw (a bug of ours, or a platform failure): a clear 502 with Cache-Status, never the runtime's bare 500. */
function failed(tx: Transaction, from: State, err: unknown): Step {
  console.error(`outpost: ${from} failed: ${(err as Error)?.stack ?? err}`);
  if (from === "synth") return { to: "done", response: errorResponse(500, "internal error") };
  return { to: "synth", answer: { status: 502, message: "this CDN node failed the request", retryAfter: 5, cacheStatus: cacheStatusOf(tx, { detail: "internal" }) } };
}

export function handleEdgeRequest(request: Request, env: Env, ctx: ExecutionContext, upper?: UpperTier): Response | Promise<Response> {
  const cf = upper?.cf ?? (request.cf as IncomingRequestCfProperties | undefined);
  let pop: Pop;
  try {
    pop = upper?.pop ?? popFor(env, cf);
  } catch (err) {
    // A broken OUTPOST_CONFIG is the operator's error: the log says what is wrong, the client only that it is.
    console.error(`outpost: ${(err as Error).message}`);
    const response = errorResponse(503, "this CDN node is misconfigured");
    response.headers.set("retry-after", "30");
    response.headers.set("cache-status", `Outpost; detail="config-invalid"`);
    return response;
  }
  pop.counters.requests++;
  const begin = () => {
    const url = new URL(request.url);
    if (url.pathname === STATUS_PATH) return statusResponse(pop, request);
    if (isReservedPath(url.pathname)) return reservedPath(pop);
    const site = pop.siteFor(url.hostname);
    if (!site) return unknownHost(pop, url);
    const { tx, first } = recv(pop, request, url, site, ctx, cf, upper?.deadline);
    return run(tx, first);
  };
  const coldStart = pop.snapshots.forRequest((p) => ctx.waitUntil(p), Date.now());
  if (!coldStart) return begin();
  return coldStart.then(async () => {
    // The sync may have brought the control plane's configuration: then a new Pop runs it, synced first.
    let now = pop;
    try {
      now = upper?.pop ?? popFor(env, cf);
    } catch (err) {
      console.error(`outpost: ${(err as Error).message}`); // the Pop that runs keeps running
    }
    if (now !== pop) {
      pop = now;
      pop.counters.requests++;
      await pop.snapshots.forRequest((p) => ctx.waitUntil(p), Date.now());
    }
    return begin();
  });
}
