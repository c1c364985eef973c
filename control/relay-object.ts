/**
 * The regional relay's Durable Object (one per location hint, placed with
 * it): thin on purpose, RelayState does the work. Its upstream is the global
 * control object, by RPC; an isolate's sync comes in through the control API
 * and goes back as a stream of answers, one JSON line each (NDJSON).
 */
import { DurableObject } from "cloudflare:workers";
import { parseSettings } from "../common/settings";
import type { Env } from "../common/env";
import type { Snapshot } from "../common/snapshot";
import type { Report, SyncRequest } from "../common/wire";
import { type HeldConfigText, RelayState, RelayUnavailable, type RelayUpstream } from "./relay";
import type { ControlPlaneRpc } from "./rpc";

/** What the control API sends a relay with an isolate's sync. */
export interface RelaySyncCall {
  relay: string;
  request: SyncRequest;
}

const encoder = new TextEncoder();

export class Relay extends DurableObject<Env> {
  private state: RelayState | undefined;

  private relayNamed(name: string): RelayState {
    if (this.state) return this.state;
    const ns = this.env.CONTROL_PLANE;
    if (!ns) throw new Error("CONTROL_PLANE binding missing");
    const global = ns.get(ns.idFromName("global")) as unknown as ControlPlaneRpc;
    const upstream: RelayUpstream = {
      sync: (request, waitMs) => global.relaySync(request, waitMs),
      forward: (batch) => global.relayed(batch),
      catchUp: () => global.catchUp(),
      config: () => global.configuration(),
    };
    this.state = new RelayState({ name, upstream, window: parseSettings(this.env).PURGE_CATCH_UP_AFTER });
    return this.state;
  }

  /** An isolate's sync (RelaySyncCall as JSON): a stream of answers, open until the sync's bound. */
  override async fetch(request: Request): Promise<Response> {
    const { relay, request: sync } = (await request.json()) as RelaySyncCall;
    const { wait = 0, ...report } = sync;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    let open = true;
    // One line per answer; the same answer object goes to every isolate at one position, encoded once.
    const lines = new WeakMap<Snapshot, Uint8Array>();
    const send = (answer: Snapshot): boolean => {
      if (!open) return false;
      let line = lines.get(answer);
      if (!line) lines.set(answer, (line = encoder.encode(`${JSON.stringify(answer)}\n`)));
      writer.write(line).catch(() => (open = false));
      return open;
    };
    const state = this.relayNamed(relay);
    try {
      await state.ready();
    } catch (err) {
      if (!(err instanceof RelayUnavailable)) throw err;
      return Response.json({ error: err.message, status: 503 }, { status: 503, headers: { "retry-after": "2" } });
    }
    void state
      .sync(report, wait, send)
      .catch(() => undefined)
      .finally(() => {
        open = false;
        return writer.close().catch(() => undefined);
      });
    return new Response(readable, { headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" } });
  }

  async report(relay: string, report: Report): Promise<void> {
    this.relayNamed(relay).report(report);
  }

  async catchUp(relay: string): Promise<Uint8Array<ArrayBuffer>> {
    return this.relayNamed(relay).catchUp();
  }

  async config(relay: string): Promise<HeldConfigText> {
    return this.relayNamed(relay).config();
  }
}
