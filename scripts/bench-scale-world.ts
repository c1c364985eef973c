/**
 * The simulated network the scale benches run: the control plane's own code
 * in process (ControlState, the global object; RelayState, one relay per
 * Durable Object location hint) and each isolate's CONTROL binding, with a
 * modelled one-way latency on every hop: colo → its region's relay, relay →
 * the global object. An isolate's held sync is the relay's stream of answers,
 * each line arriving a one-way trip after the relay sent it. The global
 * object can be taken down: its held syncs break, and calls to it fail after
 * the round trip, as an unreachable Durable Object's do.
 */
import type { Snapshot } from "../common/snapshot";
import type { Report, SyncRequest } from "../common/wire";
import { RelayState, type RelayUpstream } from "../control/relay";
import type { RelayAnswer } from "../control/relay-protocol";
import type { ControlState } from "../control/state";
import { Arrivals, REGIONS, regionOfColo, sleep } from "./bench-scale-model";

/** How long a sync is held (SNAPSHOT_LONG_POLL_MS's default). */
export const HOLD_MS = 20_000;

/** The relay a colo's isolates reach: how far it is from them (oneWayMs) and from the global object (upstreamMs). */
export interface RelayOfColo {
  name: string;
  relay: RelayState;
  arrivals: Arrivals;
  oneWayMs: number;
  upstreamMs: number;
}

export class World {
  readonly global: Arrivals;
  readonly relayArrivals = new Map<string, Arrivals>();
  private readonly relays = new Map<string, RelayState>();
  private down = false;
  private goneDown!: () => void;
  private wentDown = this.nextOutage();
  private readonly lines = new WeakMap<Snapshot, Uint8Array>();
  /** Looked up once per colo: the relay's fan-out calls onSent for every isolate, and its time is measured. */
  private readonly relayOfColo = new Map<number, RelayOfColo>();
  /** Told of each answer a relay sends, when it sends it, with the isolate's colo (before the one-way trip to it). */
  onSent: (answer: Snapshot, colo: number, sentAt: number) => void = () => undefined;
  /**
   * Told of each answer the global object gives a relay's sync: when the object answered, and when the relay got
   * it (a one-way trip later, plus however late this thread ran that trip's timer).
   */
  onUpstreamAnswer: (relay: string, answer: RelayAnswer, answeredAt: number, arrivedAt: number) => void = () => undefined;
  /** Folded catch-ups the global object sent (to relays), and their bytes. */
  readonly catchUpsFromGlobal = { count: 0, bytes: 0 };

  constructor(
    readonly state: ControlState,
    private readonly colos: number,
    readonly start = Date.now(),
  ) {
    this.global = new Arrivals(start);
    for (const region of REGIONS) {
      if (this.relays.has(region.relay)) continue;
      const home = REGIONS.find((r) => r.name === region.relay) ?? region;
      this.relayArrivals.set(region.relay, new Arrivals(start));
      this.relays.set(region.relay, new RelayState({ name: region.relay, upstream: this.upstream(region.relay, home.oneWayMs), window: 2000, holdMs: HOLD_MS }));
    }
  }

  private nextOutage(): Promise<void> {
    return new Promise<void>((resolve) => (this.goneDown = resolve));
  }

  setDown(down: boolean): void {
    this.down = down;
    if (down) this.goneDown();
    else this.wentDown = this.nextOutage();
  }

  /** A call to the global object from a relay `oneWayMs` away: counted on arrival; fails while it is down. */
  private async callGlobal<T>(oneWayMs: number, call: () => Promise<T>, answered?: (answer: T, answeredAt: number, arrivedAt: number) => void): Promise<T> {
    await sleep(oneWayMs);
    this.global.count();
    if (this.down) {
      await sleep(oneWayMs);
      throw new Error("control plane unavailable (503)");
    }
    const answer = await Promise.race([call(), this.wentDown.then(() => undefined)]);
    const answeredAt = Date.now();
    await sleep(oneWayMs);
    if (answer === undefined) throw new Error("control plane went away");
    answered?.(answer, answeredAt, Date.now());
    return answer;
  }

  private upstream(relay: string, oneWayMs: number): RelayUpstream {
    return {
      sync: (request, waitMs) =>
        this.callGlobal(
          oneWayMs,
          () => this.state.relaySync(request, waitMs),
          (answer, answeredAt, arrivedAt) => this.onUpstreamAnswer(relay, answer, answeredAt, arrivedAt),
        ),
      forward: async (batch) => {
        await this.callGlobal(oneWayMs, async () => {
          await this.state.relayed(batch);
          return true;
        });
      },
      catchUp: () =>
        this.callGlobal(oneWayMs, async () => {
          const bytes = await this.state.catchUp();
          this.catchUpsFromGlobal.count++;
          this.catchUpsFromGlobal.bytes += bytes.length;
          return bytes;
        }),
      config: () => this.callGlobal(oneWayMs, () => this.state.configuration()),
    };
  }

  /** The relay a colo's isolates reach, and how far away it is. */
  relayOf(colo: number): RelayOfColo {
    let known = this.relayOfColo.get(colo);
    if (known) return known;
    const region = regionOfColo(colo, this.colos);
    const upstreamMs = (REGIONS.find((r) => r.name === region.relay) ?? region).oneWayMs;
    known = { name: region.relay, relay: this.relays.get(region.relay)!, arrivals: this.relayArrivals.get(region.relay)!, oneWayMs: region.toRelayMs, upstreamMs };
    this.relayOfColo.set(colo, known);
    return known;
  }

  /** The CONTROL binding of an isolate in `colo`, as the control API would route it: syncs, reports and catch-ups to its relay. */
  controlFor(colo: number): Fetcher {
    const { relay, arrivals, oneWayMs } = this.relayOf(colo);
    const fetcher = {
      fetch: async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
        await sleep(oneWayMs);
        arrivals.count();
        const path = new URL(typeof input === "string" || input instanceof URL ? input : input.url).pathname;
        const back = async (response: Response) => {
          await sleep(oneWayMs);
          return response;
        };
        if (path === "/v1/reports") {
          relay.report(JSON.parse(String(init?.body)) as Report);
          return back(new Response(null, { status: 204 }));
        }
        if (path === "/v1/sync/catch-up") return back(new Response(await relay.catchUp()));
        if (path === "/v1/sync/config") return back(Response.json(await relay.config()));
        if (path !== "/v1/sync") return back(new Response(null, { status: 204 }));
        try {
          await relay.ready();
        } catch {
          return back(new Response('{"error":"relay unavailable"}', { status: 503 }));
        }
        const { wait = 0, ...report } = JSON.parse(String(init?.body)) as SyncRequest;
        let stream!: ReadableStreamDefaultController<Uint8Array>;
        const readable = new ReadableStream<Uint8Array>({ start: (controller) => void (stream = controller) });
        // The isolate may have gone (its request aborted): what is sent after is dropped.
        const later = (work: () => void) =>
          setTimeout(() => {
            try {
              work();
            } catch {}
          }, oneWayMs);
        // Each answer reaches the isolate a one-way trip after the relay sent it.
        const send = (answer: Snapshot) => {
          let line = this.lines.get(answer);
          if (!line) this.lines.set(answer, (line = new TextEncoder().encode(`${JSON.stringify(answer)}\n`)));
          const bytes = line;
          this.onSent(answer, colo, Date.now());
          later(() => stream.enqueue(bytes));
          return true;
        };
        void relay
          .sync(report, wait, send)
          .catch(() => undefined)
          .finally(() => later(() => stream.close()));
        return back(new Response(readable));
      },
    };
    return fetcher as unknown as Fetcher;
  }

  /** Isolates' syncs the relays hold now. */
  heldSyncs(): number {
    let held = 0;
    for (const relay of this.relays.values()) held += relay.held;
    return held;
  }

  /** Requests at each relay a second, over [from, to): the busiest relay's average and its busiest second. */
  relayLoad(from: number, to: number): { name: string; perSecond: number; peak: number } {
    let busiest = { name: "", perSecond: 0, peak: 0 };
    for (const [name, arrivals] of this.relayArrivals) {
      const perSecond = arrivals.rate(from, to);
      const peak = arrivals.peak(from, to);
      if (peak > busiest.peak || (peak === busiest.peak && perSecond > busiest.perSecond)) busiest = { name, perSecond, peak };
    }
    return busiest;
  }

  second(now = Date.now()): number {
    return this.global.second(now);
  }
}
